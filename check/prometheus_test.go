package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestPrometheusValue: the query's {{color}} is replaced; a scalar or a
// one-sample vector gives its value; anything else is an error.
func TestPrometheusValue(t *testing.T) {
	answers := map[string]string{
		`scalar_green`: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.25"]}}`,
		`vector_green`: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"3"]}]}}`,
		`empty_green`:  `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`bad_green`:    `{"status":"error","error":"parse error"}`,
		`nan_green`:    `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"x"]}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(answers[r.URL.Query().Get("query")]))
	}))
	defer srv.Close()
	for _, c := range []struct {
		query   string
		want    float64
		wantErr string
	}{
		{"scalar_{{color}}", 0.25, ""},
		{"vector_{{color}}", 3, ""},
		{"empty_{{color}}", 0, "returned 0 samples"},
		{"bad_{{color}}", 0, "parse error"},
		{"nan_{{color}}", 0, "not a number"},
		{"missing_{{color}}", 0, "not the query API's JSON"},
	} {
		got, err := Prometheus{URL: srv.URL, Query: c.query, Client: srv.Client()}.Value(context.Background(), bluegreen.Green)
		if c.wantErr == "" && (err != nil || got != c.want) {
			t.Errorf("%s: %v, %v; want %v", c.query, got, err, c.want)
		}
		if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: %v, %v; want an error with %q", c.query, got, err, c.wantErr)
		}
	}
}
