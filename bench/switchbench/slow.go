package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bluegreen/bluegreen/loadgen"
)

// slowResult is one slow request. started, status and color are set when
// startSlow returns; end and err are written before done is closed and must
// be read only after.
type slowResult struct {
	done    chan struct{}
	started time.Time // when the response headers arrived
	end     time.Time // when the response body ended (or broke)
	status  int
	color   string // the color header of the response
	err     error
}

// slowClient never reuses a connection: net/http retries a GET whose
// kept-alive connection was closed under it, which would hide a failure.
var slowClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// startSlow sends a GET to url and returns once the response headers have
// arrived: the backend sends them at once, so from then on the request is in
// flight through the router. The body is read in the background, bounded by
// timeout. The error is non-nil only when no response headers came.
func startSlow(ctx context.Context, url string, timeout time.Duration) (*slowResult, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("slow request: %w", err)
	}
	res, err := slowClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("slow request to %s: %w", url, err)
	}
	s := &slowResult{done: make(chan struct{}), started: time.Now(), status: res.StatusCode,
		color: res.Header.Get(loadgen.DefaultColorHeader)}
	go func() {
		defer close(s.done)
		defer cancel()
		_, s.err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		s.end = time.Now()
	}()
	return s, nil
}

// ok reports whether the slow request got a 200.
func (s *slowResult) ok() bool { return s.err == nil && s.status == http.StatusOK }
