package main

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/loadgen"

	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

// report turns the records of a run into the printed summary.
type report struct {
	opts     options
	load     *loadgen.Result
	switches []switchRecord
	idle     []switchRecord // switches before the load started
}

// slowFailed counts slow requests that did not get a 200.
func (r *report) slowFailed() (n int) {
	for _, s := range r.switches {
		if s.slow != nil && !s.slow.ok() {
			n++
		}
	}
	return n
}

// switchFailed counts switches the API refused or that failed, idle ones
// included.
func (r *report) switchFailed() (n int) {
	for _, s := range slices.Concat(r.idle, r.switches) {
		if s.err != nil {
			n++
		}
	}
	return n
}

// ok reports whether nothing failed: no load request, no slow request, no
// switch, and no request cut at a drain deadline.
func (r *report) ok() bool {
	var cancelled int64
	for _, s := range r.switches {
		cancelled += s.res.Drain.Cancelled
	}
	return r.load.Failed == 0 && r.slowFailed() == 0 && r.switchFailed() == 0 && cancelled == 0
}

func (r *report) print(w io.Writer) {
	o, l := r.opts, r.load
	var switchMS, checkMS, commitMS, syncMS, rttMS, drainMS, drainSlowMS, inFlight []float64
	var cancelled int64
	var slows, spanned int
	var errs []string
	for i, s := range r.switches {
		if s.err != nil {
			errs = append(errs, fmt.Sprintf("switch %d: %v", i+1, s.err))
			continue
		}
		switchMS = append(switchMS, s.res.SwitchMS)
		checkMS = append(checkMS, s.res.CheckMS)
		commitMS = append(commitMS, s.res.CommitMS)
		syncMS = append(syncMS, s.res.SyncMS)
		rttMS = append(rttMS, bluegreen.Milliseconds(s.rtt))
		inFlight = append(inFlight, float64(s.res.Drain.InFlight))
		cancelled += s.res.Drain.Cancelled
		if s.slow == nil {
			drainMS = append(drainMS, s.res.Drain.DurationMS)
			continue
		}
		slows++
		drainSlowMS = append(drainSlowMS, s.res.Drain.DurationMS)
		// In flight at the swap: answered by the old color, and ended after
		// the router had swapped to the new one.
		if s.slow.ok() && s.slow.color == string(s.res.From) && s.slow.end.After(s.res.SwappedAt) {
			spanned++
		}
		if !s.slow.ok() {
			errs = append(errs, fmt.Sprintf("slow request before switch %d: status %d, %v", i+1, s.slow.status, s.slow.err))
		}
	}

	load := "as fast as they go"
	if o.rate > 0 {
		load = fmt.Sprintf("a fixed %d req/s", o.rate)
	}
	slow := "no slow requests"
	if o.slowEvery > 0 {
		slow = fmt.Sprintf("a %d ms request in flight at 1 switch in %d", o.slowMS, o.slowEvery)
	}
	fmt.Fprintf(w, "switchbench: %d switches under load (%d connections, %s; %s)\n\n", o.switches, o.conns, load, slow)
	fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(w, "| switches done / failed (under load and idle) | %d / %d |\n", len(r.switches)+len(r.idle)-r.switchFailed(), r.switchFailed())
	fmt.Fprintf(w, "| load requests (total / failed) | %d / %d%s |\n", l.Requests, l.Failed, failures(l))
	fmt.Fprintf(w, "| load requests per color | %s |\n", benchkit.Counts(l.ByColor))
	fmt.Fprintf(w, "| load throughput, latency p50 / p99 / max | %.0f req/s, %v / %v / %v |\n", l.RPS(), benchkit.Round(l.Latency.P50), benchkit.Round(l.Latency.P99), benchkit.Round(l.Latency.Max))
	fmt.Fprintf(w, "| slow requests (total / failed / in flight at a swap) | %d / %d / %d |\n", slows, r.slowFailed(), spanned)
	fmt.Fprintf(w, "| switch_ms (API received -> router swap) p50 / p99 / max | %s |\n", pcts(switchMS, "%.2f ms"))
	fmt.Fprintf(w, "| of which the fresh health check of the target, p50 / p99 / max | %s |\n", pcts(checkMS, "%.2f ms"))
	fmt.Fprintf(w, "| of which the commit (visible, safe from a kill; flushed to disk after the swap), p50 / p99 / max | %s |\n", pcts(commitMS, "%.2f ms"))
	fmt.Fprintf(w, "| flush of the commit to disk, after the swap and before the API answers, p50 / p99 / max | %s |\n", pcts(syncMS, "%.2f ms"))
	var idleMS, idleCheckMS, idleCommitMS []float64
	for i, s := range r.idle {
		if s.err != nil {
			errs = append(errs, fmt.Sprintf("idle switch %d: %v", i+1, s.err))
			continue
		}
		idleMS = append(idleMS, s.res.SwitchMS)
		idleCheckMS = append(idleCheckMS, s.res.CheckMS)
		idleCommitMS = append(idleCommitMS, s.res.CommitMS)
	}
	fmt.Fprintf(w, "| switch_ms with no load (%d switches before the load, each after %v without a switch) p50 / p99 / max | %s |\n", len(r.idle), o.idleGap, pcts(idleMS, "%.2f ms"))
	fmt.Fprintf(w, "| of which the health check / the commit, p50 / p99 / max | %s; %s |\n", pcts(idleCheckMS, "%.2f ms"), pcts(idleCommitMS, "%.2f ms"))
	fmt.Fprintf(w, "| switch API round trip incl. drain, p50 / p99 / max | %s |\n", pcts(rttMS, "%.1f ms"))
	fmt.Fprintf(w, "| requests in flight on the old color at the swap, p50 / p99 / max | %s |\n", pcts(inFlight, "%.0f"))
	fmt.Fprintf(w, "| drain duration, switches without a slow request, p50 / p99 / max | %s |\n", pcts(drainMS, "%.1f ms"))
	fmt.Fprintf(w, "| drain duration, switches with a slow request, p50 / p99 / max | %s |\n", pcts(drainSlowMS, "%.0f ms"))
	fmt.Fprintf(w, "| requests cut at a drain deadline | %d |\n", cancelled)
	if l.Aborted > 0 {
		fmt.Fprintf(w, "\n%d load requests were still in flight when the load stopped and were cut (not counted as failed).\n", l.Aborted)
	}
	for _, e := range append(errs, l.FirstErrors...) {
		fmt.Fprintln(w, "error:", e)
	}
}

func failures(l *loadgen.Result) string {
	if len(l.Failures) == 0 {
		return ""
	}
	return " (" + benchkit.Counts(l.Failures) + ")"
}

// pcts prints p50 / p99 / max of xs with format f, or "-" when empty.
func pcts(xs []float64, f string) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return fmt.Sprintf(f+" / "+f+" / "+f, quantile(s, 0.50), quantile(s, 0.99), s[len(s)-1])
}

// quantile returns the nearest-rank q-quantile of sorted.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
