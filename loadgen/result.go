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
	Latency Percentiles
	// Elapsed is the wall time of the run so far (or in total, once done).
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
// green=400, latency p50=1ms p90=2ms p99=3ms max=5ms".
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
