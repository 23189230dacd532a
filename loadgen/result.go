package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxFirstErrors is how many failure messages a Result keeps.
const maxFirstErrors = 10

// Result counts what a run did. Requests == OK + Failed always holds.
type Result struct {
	// Requests is the number of requests that finished, well or not.
	Requests int64
	// OK counts responses whose status passed Options.OKStatus.
	OK int64
	// Failed counts every other finished request: refused or failed
	// dials, resets, EOF before the end of a response, timeouts,
	// malformed responses and statuses that are not OK.
	Failed int64
	// Failures counts failed requests by kind: "refused", "reset", "eof",
	// "timeout", "protocol", "dial", "other" or "status <code>".
	Failures map[string]int64
	// ByColor counts responses (any status) by the color header's value;
	// the key is "" when the header was missing.
	ByColor map[string]int64
	// Aborted counts requests still in flight when the run ended and cut
	// after Options.Grace. They are in neither Requests nor Failed; the
	// server may or may not have seen them.
	Aborted int64
	// Dials counts connections opened (attempts included). With keep-alive
	// working and no failures it equals the number of workers.
	Dials int64
	// Latency summarises, over requests that got a whole response (any
	// status), the time from the start of the attempt (including the dial
	// when the worker had to open a new connection) to the end of the body.
	// It is the service time a worker saw: with Options.Rate set, a request
	// that waited for a free worker (behind a slow response) is measured
	// from when it was finally sent, so a stall shows in one request only;
	// see CorrectedLatency.
	Latency Percentiles
	// CorrectedLatency is set only for runs with Options.Rate: over the same
	// requests as Latency, the time from the request's scheduled send time
	// (request n, counted from 0, is due n/Rate after Start) to the end of
	// its body. A request sent late, because every worker was busy or the
	// load generator was slow, is charged for its wait, as an open-loop
	// client would see it (wrk2's and HdrHistogram's correction for
	// coordinated omission). It is never below Latency, request by request.
	// It also includes how late the load generator woke up for the send:
	// about a tenth of a millisecond on Linux (a timerfd), up to a
	// millisecond elsewhere (a Go timer in a mostly idle process), more
	// when the machine's cores are busy. Zero without Rate.
	CorrectedLatency Percentiles
	// CorrectedHistogram holds the latencies that CorrectedLatency
	// summarises, so that several runs can be pooled (Histogram.Add).
	// Never nil in a Result from a Runner; empty without Rate.
	CorrectedHistogram *Histogram
	// Elapsed is the wall time of the run so far (or in total, once done),
	// counted from Start or from the last Runner.Reset.
	Elapsed time.Duration
	// FirstErrors holds the messages of the first few failures, in order.
	FirstErrors []string
}

// RPS returns finished requests per second of Elapsed, 0 before any time has
// passed.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// String summarises r on one line, failures and colors sorted by name, e.g.
// "1000 requests in 1.2s (833/s): 998 ok, 2 failed (eof=2), colors blue=600
// green=400, latency p50=1ms p90=2ms p99=3ms max=5ms", followed for a Rate run
// by ", from schedule p50=... max=..." (CorrectedLatency).
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %v (%.0f/s): %d ok, %d failed", r.Requests,
		r.Elapsed.Round(time.Millisecond), r.RPS(), r.OK, r.Failed)
	if len(r.Failures) > 0 {
		b.WriteString(" (" + joinCounts(r.Failures) + ")")
	}
	if r.Aborted > 0 {
		fmt.Fprintf(&b, ", %d aborted", r.Aborted)
	}
	if len(r.ByColor) > 0 {
		b.WriteString(", colors " + joinCounts(r.ByColor))
	}
	l := r.Latency
	fmt.Fprintf(&b, ", latency p50=%v p90=%v p99=%v max=%v", l.P50, l.P90, l.P99, l.Max)
	if c := r.CorrectedLatency; c != (Percentiles{}) {
		fmt.Fprintf(&b, ", from schedule p50=%v p90=%v p99=%v max=%v", c.P50, c.P90, c.P99, c.Max)
	}
	return b.String()
}

func joinCounts(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if name == "" {
			name = `""`
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}
