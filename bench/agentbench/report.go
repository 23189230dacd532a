package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is a run's results and what they were measured on.
type report struct {
	opts                  options
	args                  []string
	started               time.Time
	loadBefore, loadAfter string
	results               []*result
}

// print writes the report as Markdown.
func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "### Deploy across hosts, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "`%s` on %d cores; load average %s at the start, %s at the end.\n",
		strings.Join(append([]string{"go run ./bench/agentbench"}, r.args...), " "), runtime.NumCPU(), r.loadBefore, r.loadAfter)
	fmt.Fprintf(w, "Build step `%s` on every host; agents report every %s; %d measured deploys of green per row (after a warm-up deploy), each after a random pause shorter than that.\n\n",
		r.opts.build, r.opts.interval, r.opts.rounds)
	fmt.Fprintln(w, "| hosts per color | mode | median | min | max | each deploy (s) | a host's own time, median | of which its wait for its agent, median | all at once ÷ one at a time |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---|---:|---:|---:|")
	for _, res := range r.results {
		ratio := ""
		if one := r.oneAtATime(res.n); res.maxParallel == 0 && one != nil {
			ratio = fmt.Sprintf("%.2fx", median(res.deploys).Seconds()/median(one.deploys).Seconds())
		}
		var each []string
		for _, d := range res.deploys {
			each = append(each, fmt.Sprintf("%.2f", d.Seconds()))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", res.n, res.mode, secs(median(res.deploys)),
			secs(slices.Min(res.deploys)), secs(slices.Max(res.deploys)), strings.Join(each, ", "),
			secs(median(res.hosts)), secs(median(res.waits)), ratio)
	}
}

// oneAtATime returns the max_parallel: 1 result for n hosts, nil if none.
func (r report) oneAtATime(n int) *result {
	for _, res := range r.results {
		if res.n == n && res.maxParallel == 1 {
			return res
		}
	}
	return nil
}

// median returns the median of ds (the mean of the two middle values for
// an even count), 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// secs prints d in seconds with two decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
