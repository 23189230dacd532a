// Package check runs health checks against a color's upstreams and turns
// their results into a verdict with thresholds.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// HTTPSpec says how to health-check one upstream over HTTP.
type HTTPSpec struct {
	// Path is requested with GET, e.g. "/healthz".
	Path string
	// Status is the expected response status.
	Status int
	// Interval is the time between two rounds of checks.
	Interval time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
	// HealthyThreshold is how many consecutive passing rounds make a color
	// healthy; UnhealthyThreshold how many failing rounds make it unhealthy.
	HealthyThreshold, UnhealthyThreshold int
}

// Probe performs one GET of spec.Path on the upstream host:port with
// spec.Timeout and returns nil when it answers spec.Status. The error names the
// upstream, the path and what went wrong. Probe is safe for concurrent use.
func Probe(ctx context.Context, client *http.Client, upstream string, spec HTTPSpec) error {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+upstream+spec.Path, nil)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", upstream, spec.Path, err)
	}
	req.Header.Set("User-Agent", "bluegreen-health")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s: GET %s: no answer within %s", upstream, spec.Path, spec.Timeout)
		}
		return fmt.Errorf("%s: GET %s: %v", upstream, spec.Path, unwrapURLError(err))
	}
	// Drain a little so the connection can be reused; health bodies are small.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != spec.Status {
		return fmt.Errorf("%s: GET %s: status %d, want %d", upstream, spec.Path, resp.StatusCode, spec.Status)
	}
	return nil
}

// unwrapURLError drops net/url's "Get \"http://...\":" prefix, which
// repeats what the caller already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
