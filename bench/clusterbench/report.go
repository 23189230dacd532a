package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"

	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

// report turns the records of a run into the printed Markdown summary.
type report struct {
	opts         options
	args         []string
	loadAvg      string
	targets      []*target // the etcd serves, then the SQLite one
	etcd, sqlite []switchRecord
}

// missing counts the acknowledgements that did not come: for every switch
// that succeeded, the etcd serves that did not confirm the new color.
func (r *report) missing() (n int) {
	for _, s := range r.etcd {
		if s.err != nil {
			continue
		}
		acked := 0
		if s.res.Routers != nil {
			acked = len(s.res.Routers.Acked)
		}
		n += max(0, r.opts.serves-acked)
	}
	return n
}

// ok reports whether nothing failed: no request at any instance, no
// switch, and every etcd serve confirmed every switch.
func (r *report) ok() bool {
	for _, t := range r.targets {
		if t.result.Failed != 0 {
			return false
		}
	}
	return failedSwitches(r.etcd) == 0 && failedSwitches(r.sqlite) == 0 && r.missing() == 0
}

func failedSwitches(recs []switchRecord) (n int) {
	for _, s := range recs {
		if s.err != nil {
			n++
		}
	}
	return n
}

func (r *report) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "# clusterbench, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "command: `%s`\n\n", commandLine(r.args))
	fmt.Fprintf(w, "machine: %d cores (%s), %s; %s; load average at start: %s\n\n", runtime.NumCPU(), cpuModel(), runtime.Version(), firstLine(o.etcd, "--version"), r.loadAvg)
	load := "as fast as they go"
	if o.rate > 0 {
		load = fmt.Sprintf("%d req/s", o.rate)
	}
	fmt.Fprintf(w, "setup: %d serves on a %d-member etcd and 1 on SQLite, the same upstreams; at each serve its own load client, "+
		"%d connections, %s, running through both stores' switches; %d switches on each store, %v apart; post-switch watch off.\n\n",
		o.serves, o.members, o.conns, load, o.switches, o.gap)

	fmt.Fprintf(w, "| instance | store | requests | failed | per color | load latency p50 / p99 / max | switches sent to it |\n|---|---|---:|---:|---|---|---:|\n")
	for _, t := range r.targets {
		l, sent := t.result, 0
		for _, s := range slices.Concat(r.etcd, r.sqlite) {
			if s.via == t.name {
				sent++
			}
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d%s | %s | %v / %v / %v | %d |\n", t.name, t.store, l.Requests, l.Failed, failures(l.Failures),
			benchkit.Counts(l.ByColor), benchkit.Round(l.Latency.P50), benchkit.Round(l.Latency.P99), benchkit.Round(l.Latency.Max), sent)
	}

	var switchMS, commitMS, spreadMS, waitMS, rttMS, sqlSwitchMS, sqlCommitMS, sqlRttMS []float64
	for _, s := range r.etcd {
		if s.err == nil {
			switchMS = append(switchMS, s.res.SwitchMS)
			commitMS = append(commitMS, s.res.CommitMS)
			rttMS = append(rttMS, bluegreen.Milliseconds(s.rtt))
			if s.res.Routers != nil {
				spreadMS = append(spreadMS, s.res.Routers.SpreadMS)
				waitMS = append(waitMS, s.res.Routers.WaitMS)
			}
		}
	}
	for _, s := range r.sqlite {
		if s.err == nil {
			sqlSwitchMS = append(sqlSwitchMS, s.res.SwitchMS)
			sqlCommitMS = append(sqlCommitMS, s.res.CommitMS)
			sqlRttMS = append(sqlRttMS, bluegreen.Milliseconds(s.rtt))
		}
	}
	fmt.Fprintf(w, "\n| figure | etcd, %d serves | SQLite, 1 serve |\n|---|---|---|\n", o.serves)
	fmt.Fprintf(w, "| switches done / failed | %d / %d | %d / %d |\n", len(r.etcd)-failedSwitches(r.etcd), failedSwitches(r.etcd), len(r.sqlite)-failedSwitches(r.sqlite), failedSwitches(r.sqlite))
	fmt.Fprintf(w, "| switch_ms (the leader's controller received the switch -> its router swapped), p50 / p99 / max | %s | %s |\n", pcts(switchMS), pcts(sqlSwitchMS))
	fmt.Fprintf(w, "| of which the commit to the store, p50 / p99 / max | %s | %s |\n", pcts(commitMS), pcts(sqlCommitMS))
	fmt.Fprintf(w, "| spread_ms (first to last router serving the new color), p50 / p99 / max | %s | - |\n", pcts(spreadMS))
	fmt.Fprintf(w, "| wait_ms (leader waiting for every router's ack), p50 / p99 / max | %s | - |\n", pcts(waitMS))
	fmt.Fprintf(w, "| acknowledgements missing (of %d per switch) | %d | - |\n", o.serves, r.missing())
	fmt.Fprintf(w, "| switch API round trip incl. drain, p50 / p99 / max | %s | %s |\n", pcts(rttMS), pcts(sqlRttMS))
	if len(spreadMS) > 0 {
		p99 := percentiles(spreadMS)[1]
		met := "met"
		if p99 > 50 {
			met = "NOT met"
		}
		fmt.Fprintf(w, "\n- target spread p99 <= 50 ms: %.2f ms, %s\n", p99, met)
	}
	for _, recs := range [][]switchRecord{r.etcd, r.sqlite} {
		for i, s := range recs {
			if s.err != nil {
				fmt.Fprintf(w, "error: switch %d through %s: %v\n", i+1, s.via, s.err)
			} else if s.res.Routers != nil && len(s.res.Routers.Missing) > 0 {
				fmt.Fprintf(w, "error: switch %d through %s: no ack from %s\n", i+1, s.via, strings.Join(s.res.Routers.Missing, ", "))
			}
		}
	}
	for _, t := range r.targets {
		for _, e := range t.result.FirstErrors {
			fmt.Fprintf(w, "error: %s: %s\n", t.name, e)
		}
	}
}

// percentiles returns the nearest-rank median, 99th percentile and
// maximum of xs, which must not be empty.
func percentiles(xs []float64) [3]float64 {
	s := slices.Sorted(slices.Values(xs))
	rank := func(q float64) float64 {
		return s[max(0, min(int(math.Ceil(q*float64(len(s))))-1, len(s)-1))]
	}
	return [3]float64{rank(0.50), rank(0.99), s[len(s)-1]}
}

// pcts prints p50 / p99 / max of xs in milliseconds, or "-" when empty.
func pcts(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	p := percentiles(xs)
	return fmt.Sprintf("%.2f / %.2f / %.2f ms", p[0], p[1], p[2])
}

// failures prints the failures by kind, in parentheses, or nothing.
func failures(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + benchkit.Counts(m) + ")"
}

// commandLine is how this run was invoked, quoted for a shell.
func commandLine(args []string) string {
	parts := []string{"clusterbench"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$\\") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown
// CPU".
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// firstLine returns the first line bin prints when run with args, or what
// went wrong.
func firstLine(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return fmt.Sprintf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}
