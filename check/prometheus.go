package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// Prometheus runs an instant query on a Prometheus server's HTTP API: the
// post-switch watch's optional probe. It is safe for concurrent use when
// Client is.
type Prometheus struct {
	// URL is the server's base URL (http://host:9090), without the API path.
	URL string
	// Query is the PromQL expression; {{color}} in it is replaced by the
	// color asked about.
	Query string
	// Client makes the requests; it should have a timeout.
	Client *http.Client
}

// Value returns the query's single sample for color. No sample, several
// samples, a non-number or a server that does not answer the query API's
// JSON are errors, as is ctx ending.
func (q Prometheus) Value(ctx context.Context, color bluegreen.Color) (float64, error) {
	expr := strings.ReplaceAll(q.Query, "{{color}}", string(color))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.URL+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	resp, err := q.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("asking %s: %v", q.URL, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return 0, fmt.Errorf("%s answered %s that is not the query API's JSON: %v", q.URL, resp.Status, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	var sample []any
	switch body.Data.ResultType {
	case "scalar":
		var raw json.RawMessage
		raw, _ = json.Marshal(body.Data.Result)
		if err := json.Unmarshal(raw, &sample); err != nil {
			return 0, err
		}
	case "vector":
		if len(body.Data.Result) != 1 {
			return 0, fmt.Errorf("query %q returned %d samples, want exactly 1", expr, len(body.Data.Result))
		}
		var v struct {
			Value []any `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result[0], &v); err != nil {
			return 0, err
		}
		sample = v.Value
	default:
		return 0, fmt.Errorf("query %q returned a %s, want a scalar or a one-sample vector", expr, body.Data.ResultType)
	}
	if len(sample) != 2 {
		return 0, fmt.Errorf("query %q: malformed sample", expr)
	}
	s, _ := sample[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("query %q: value %v is not a number", expr, sample[1])
	}
	return f, nil
}
