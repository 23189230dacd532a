package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// report prints what happened and fills summary.
//
// Counting failed requests honestly: the load client counts every request
// that did not end in a 2xx, by kind. The bad release answers every 4th
// request with 500 on purpose: that is the bug the watch exists to catch,
// not a request bluegreen dropped, so those are reported apart. A failure
// is put down to the bad release only when all of these hold:
//   - its kind is "status 500": the router itself never answers 500 (it
//     answers 502 when an upstream cannot be reached, 504 for a request cut
//     at the drain deadline, 413 for a body too large), so a 500 was written
//     by an app, and the good releases never write one;
//   - it was counted in the window when the bad release could serve: between
//     the client's snapshot just before the switch to it and the one after
//     the automatic rollback's drain had ended;
//   - it is within what the router counted as 5xx answers of the bad
//     release's color in that window, the 502s it made itself left out.
//
// Every other failure (a connection refused, reset or cut, a timeout, a 502,
// a 504, a 500 outside the window) is a request bluegreen failed: it is
// counted in "failed", and the demo exits 1.
func (d *demo) report(ctx context.Context, rb *Rollback, w demoWindow, summary *Summary) error {
	final := d.load.Stop()
	inWindow := w.after.Failures["status 500"] - w.before.Failures["status 500"]
	badOwn := min(inWindow, max(w.routerBad5xx, 0))
	failed := final.Failed - badOwn

	color, err := d.client.Color(ctx)
	if err != nil {
		return err
	}
	st, err := d.client.Status(ctx)
	if err != nil {
		return err
	}
	evs, err := d.client.History(ctx, bluegreen.HistoryFilter{Limit: 10000})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[string(e.Action)]++
	}
	var switchMS []float64
	for _, s := range d.switches {
		switchMS = append(switchMS, s.SwitchMS)
	}
	slices.Sort(switchMS)
	finalSHA := ""
	if r := st.State.Colors[color].Release; r != nil {
		finalSHA = r.SHA
	}
	same := "the other color runs another commit"
	if r := st.State.Colors[color.Other()].Release; r != nil && r.SHA == finalSHA {
		same = color.Other().String() + " runs the same commit"
	}

	d.p("")
	d.story("What happened:")
	d.p("   requests   %d in %s (%.0f/s); by color: %s", final.Requests, final.Elapsed.Round(time.Millisecond), final.RPS(), joinColors(final.ByColor))
	d.p("   latency    p50 %s, p99 %s, max %s (the load client's, through the router)", demoMS(final.Latency.P50),
		demoMS(final.Latency.P99), demoMS(final.Latency.Max))
	var deps []string
	for _, dp := range d.deploys {
		what := dp.Ref
		if dp.Sync {
			what = "sync"
		}
		deps = append(deps, fmt.Sprintf("%s %s (%.1fs)", dp.Color, what, dp.DurationMS/1000))
	}
	d.p("   deploys    %d, all verified: %s", len(d.deploys), strings.Join(deps, ", "))
	d.p("   switches   %d under load and 1 to the bad release; live after the API got them: median %.2f ms, max %.2f ms",
		d.opts.Switches, switchMS[len(switchMS)/2], switchMS[len(switchMS)-1])
	d.p("   rollback   automatic, %.2f s after the switch to the bad release: 5xx ratio %.1f%% of %d requests seen, threshold %.1f%%",
		rb.AfterMS/1000, 100*rb.ErrorRatio, rb.Requests, 100*rb.MaxErrorRatio)
	var hist []string
	for _, a := range slices.Sorted(maps.Keys(counts)) {
		hist = append(hist, fmt.Sprintf("%s %d", a, counts[a]))
	}
	d.p("   history    %d events recorded: %s", len(evs), strings.Join(hist, ", "))
	d.p("   live       /deployment/color/ says %s, running %s; %s", color, short(finalSHA), same)
	if final.Aborted > 0 {
		d.p("   aborted    %d requests were still in flight when the load client stopped (neither ok nor failed)", final.Aborted)
	}
	if badOwn > 0 {
		d.p("   bad 500s   %d requests answered 500 by the bad release itself, which is what the watch caught", badOwn)
	}
	if failed > 0 {
		other := map[string]int64{}
		for k, n := range final.Failures {
			other[k] = n
		}
		other["status 500"] -= badOwn
		d.p("   FAILED     %s; first errors: %s", demoJoinCounts(other), strings.Join(final.FirstErrors, "; "))
	}
	d.p("\n%d failed", failed)

	if summary != nil {
		*summary = Summary{Dir: d.dir, Requests: final.Requests, Failed: failed, Failures: final.Failures,
			BadRelease500s: badOwn, ByColor: final.ByColor, Deployments: d.deploys, Switches: d.switches,
			AutomaticRollback: rb, LatencyP99: final.Latency.P99.String(), FinalColor: color, FinalSHA: finalSHA,
			History: counts}
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed (apart from the bad release's own %d 500s)", failed, badOwn)
	}
	return nil
}

// waitServed waits until color has answered at least n more requests of the
// load, so that each step happens under real traffic.
func (d *demo) waitServed(ctx context.Context, color bluegreen.Color, n int64) error {
	start := d.load.Snapshot().ByColor[string(color)]
	return demoPoll(ctx, 15*time.Second, fmt.Sprintf("%d requests answered by %s", n, color), func() (bool, error) {
		return d.load.Snapshot().ByColor[string(color)] >= start+n, nil
	})
}

// demoPoll calls cond every 10 ms until it reports true or an error, ctx ends,
// or limit has passed.
func demoPoll(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// demoDetail decodes ev.Details[key] (JSON from the API) into v.
func demoDetail(ev bluegreen.Event, key string, v any) error {
	raw, ok := ev.Details[key]
	if !ok {
		return fmt.Errorf("the %s event %d has no %q detail", ev.Action, ev.ID, key)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the %s event %d's %q detail: %w", ev.Action, ev.ID, key, err)
	}
	return nil
}

// demoMS prints a latency in milliseconds, rounded for people.
func demoMS(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", bluegreen.Milliseconds(d))
}

func demoOK(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

func demoOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func joinColors(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(no color header)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

func demoJoinCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// demoGet GETs url and returns its body on one line.
func demoGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return strings.TrimSpace(string(body)), err
}

// slowRequest GETs url and says how it ended; wrote is closed once the
// whole request has been written.
func slowRequest(ctx context.Context, url string, wrote chan<- struct{}) string {
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "failed: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%s after %s, answered by %s: %s", resp.Status, time.Since(start).Round(time.Millisecond),
		resp.Header.Get("X-Bluegreen-Color"), strings.TrimSpace(string(body)))
}

// short is a commit's first 12 characters, as the CLI prints it.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
