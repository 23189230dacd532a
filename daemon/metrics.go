package daemon

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"strconv"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/router"
)

// metricsHandler serves GET /metrics in the Prometheus text exposition
// format (version 0.0.4): the router's per-color figures and the
// controller's operation counts, all since this process started, and the
// garbage collector's target.
func metricsHandler(rt *router.Router, ctl *controller.Controller) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		writeMetrics(bw, rt.Stats(), ctl.Counters(), ctl.Live())
		_ = bw.Flush()
	})
}

// writeMetrics writes the exposition. Families are written whole, each with
// its HELP and TYPE, colors in a fixed order so scrapes diff cleanly.
func writeMetrics(w *bufio.Writer, stats map[bluegreen.Color]router.ColorStats, k controller.Counters, live bluegreen.Color) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("bluegreen_requests_total", "counter", "Requests answered through the router by the color (or 502/504 for its upstreams), by color and status class (public and preview listeners).")
	for _, c := range bluegreen.Colors {
		s := stats[c]
		for i, n := range s.Status {
			fmt.Fprintf(w, "bluegreen_requests_total{color=%q,class=\"%dxx\"} %d\n", c, i+1, n)
		}
	}
	family("bluegreen_upstream_errors_total", "counter", "502 answers the router made because an upstream could not be reached or broke the exchange.")
	for _, c := range bluegreen.Colors {
		fmt.Fprintf(w, "bluegreen_upstream_errors_total{color=%q} %d\n", c, stats[c].UpstreamErrors)
	}
	family("bluegreen_client_errors_total", "counter", "Requests the router answered itself because of the client (CONNECT, a body too large, slow or malformed, a client gone before the answer); in no other family and never counted against the color.")
	for _, c := range bluegreen.Colors {
		fmt.Fprintf(w, "bluegreen_client_errors_total{color=%q} %d\n", c, stats[c].ClientErrors)
	}
	family("bluegreen_in_flight_requests", "gauge", "Requests in flight per color, open streams and upgraded connections included.")
	for _, c := range bluegreen.Colors {
		fmt.Fprintf(w, "bluegreen_in_flight_requests{color=%q} %d\n", c, stats[c].InFlight)
	}
	family("bluegreen_request_duration_seconds", "histogram", "Time from a request's arrival to the upstream's response headers, per color.")
	for _, c := range bluegreen.Colors {
		h := stats[c].Latency
		for i, b := range h.Bounds {
			fmt.Fprintf(w, "bluegreen_request_duration_seconds_bucket{color=%q,le=%q} %d\n", c, strconv.FormatFloat(b, 'g', -1, 64), h.Counts[i])
		}
		fmt.Fprintf(w, "bluegreen_request_duration_seconds_bucket{color=%q,le=\"+Inf\"} %d\n", c, h.Count)
		fmt.Fprintf(w, "bluegreen_request_duration_seconds_sum{color=%q} %s\n", c, strconv.FormatFloat(h.Sum, 'g', -1, 64))
		fmt.Fprintf(w, "bluegreen_request_duration_seconds_count{color=%q} %d\n", c, h.Count)
	}
	family("bluegreen_live", "gauge", "1 for the live color, 0 for the other.")
	for _, c := range bluegreen.Colors {
		v := 0
		if c == live {
			v = 1
		}
		fmt.Fprintf(w, "bluegreen_live{color=%q} %d\n", c, v)
	}
	family("bluegreen_switches_total", "counter", "Switches of live traffic to another color (rollbacks not included).")
	fmt.Fprintf(w, "bluegreen_switches_total %d\n", k.Switches)
	family("bluegreen_rollbacks_total", "counter", "Rollbacks, by who asked: a person or CI (manual) or the post-switch watch (automatic).")
	fmt.Fprintf(w, "bluegreen_rollbacks_total{kind=\"manual\"} %d\n", k.RollbacksManual)
	fmt.Fprintf(w, "bluegreen_rollbacks_total{kind=\"automatic\"} %d\n", k.RollbacksAutomatic)
	family("bluegreen_deployments_total", "counter", "Finished deployments by outcome.")
	fmt.Fprintf(w, "bluegreen_deployments_total{outcome=\"ok\"} %d\n", k.DeploymentsOK)
	fmt.Fprintf(w, "bluegreen_deployments_total{outcome=\"failed\"} %d\n", k.DeploymentsFailed)
	family("bluegreen_verifications_total", "counter", "Verifications of a color by outcome.")
	fmt.Fprintf(w, "bluegreen_verifications_total{outcome=\"passed\"} %d\n", k.VerificationsPassed)
	fmt.Fprintf(w, "bluegreen_verifications_total{outcome=\"failed\"} %d\n", k.VerificationsFailed)
	family("go_gc_gogc_percent", "gauge", "The garbage collector's heap growth target: GOGC if set, otherwise serve's default of 400 (-1: off).")
	fmt.Fprintf(w, "go_gc_gogc_percent %d\n", gcPercent())
	family("go_sched_gomaxprocs_threads", "gauge", "GOMAXPROCS: twice the cores with the event-loop data path unless GOMAXPROCS is set (see router.data_path).")
	fmt.Fprintf(w, "go_sched_gomaxprocs_threads %d\n", runtime.GOMAXPROCS(0))
}
