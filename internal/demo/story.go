package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/loadgen"
)

// tell runs the story once serve is up.
func (d *demo) tell(ctx context.Context, summary *Summary) error {
	live := d.ep.Live
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Color: live}, false,
		fmt.Sprintf("Deploy %s (branch production, v1): the very first deploy may go into the live color, nothing serves there yet.", live)); err != nil {
		return err
	}

	public := "http://" + d.ep.Public + "/"
	load, err := loadgen.Start(ctx, loadgen.Options{URL: public, Connections: d.opts.Connections, Rate: d.opts.Rate})
	if err != nil {
		return err
	}
	d.load = load
	defer load.Stop()
	rate := "as fast as it can"
	if d.opts.Rate > 0 {
		rate = fmt.Sprintf("%d requests/s", d.opts.Rate)
	}
	d.story("A load client starts: %d kept-alive connections, %s to %s; it counts every failed request.",
		d.opts.Connections, rate, public)
	if err := d.waitServed(ctx, live, 200); err != nil {
		return err
	}

	next := live.Other()
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Color: next}, true,
		fmt.Sprintf("Deploy %s (branch green, v2) into the inactive color, under load:", next)); err != nil {
		return err
	}
	if err := d.switchUnderLoad(ctx); err != nil {
		return err
	}

	kept, err := d.client.Color(ctx)
	if err != nil {
		return err
	}
	if err := d.waitWatchPassed(ctx, kept); err != nil {
		return err
	}
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Sync: true}, false,
		fmt.Sprintf("Sync: %s gets %s's exact commit, ready for the next round.", kept.Other(), kept)); err != nil {
		return err
	}

	bad := kept.Other()
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Color: bad, Ref: demoBadRef}, false,
		fmt.Sprintf("A bad release: deploy %s (v3) into %s. Its health check passes, and so does its check (one request to /).",
			demoBadRef, bad)); err != nil {
		return err
	}
	rb, window, err := d.badRelease(ctx, bad)
	if err != nil {
		return err
	}
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Sync: true}, false,
		fmt.Sprintf("Sync again: %s gets %s's commit back, so both colors run the good release.", bad, kept)); err != nil {
		return err
	}
	if err := d.waitServed(ctx, kept, 200); err != nil {
		return err
	}
	return d.report(ctx, rb, window, summary)
}

// deploy runs one deployment and prints it: every step when steps is set,
// else one line.
func (d *demo) deploy(ctx context.Context, req bluegreen.DeployRequest, steps bool, title string) (bluegreen.Deployment, error) {
	d.story("%s", title)
	req.Reason = "demo"
	var progress func(bluegreen.Progress)
	if steps {
		progress = func(p bluegreen.Progress) {
			// The verification is summed up below; "done" is the last line.
			if p.Line != "" && p.Step != "done" && p.Step != "verify" {
				d.p("     [%5.1fs] %-12s %s", p.ElapsedMS/1000, p.Step, p.Line)
			}
		}
	}
	dep, err := d.client.Deploy(ctx, req, progress)
	if err != nil {
		if req.Sync {
			return dep, fmt.Errorf("syncing the inactive color: %w", err)
		}
		return dep, fmt.Errorf("deploying %s into %s: %w", demoOr(req.Ref, "its branch"), req.Color, err)
	}
	rec := Deployment{ID: dep.ID, Color: dep.Color, Ref: dep.Ref, SHA: dep.SHA, Sync: req.Sync,
		DurationMS: bluegreen.Milliseconds(dep.Ended.Sub(dep.Started)), Verified: dep.Verification != nil && dep.Verification.Passed}
	d.deploys = append(d.deploys, rec)
	verdict := "no verification ran"
	if v := dep.Verification; v != nil {
		var parts []string
		for _, c := range v.Checks {
			parts = append(parts, fmt.Sprintf("%s %s in %.1f ms", c.Name, demoOK(c.OK), c.DurationMS))
		}
		verdict = fmt.Sprintf("verification %s (%s)", map[bool]string{true: "passed", false: "FAILED"}[v.Passed], strings.Join(parts, ", "))
		if steps && v.URL != "" {
			verdict += " through " + v.URL
		}
	}
	if steps {
		d.p("     %s", verdict)
		if body, err := demoGet(ctx, "http://"+d.ep.Preview+"/"); err == nil {
			d.p("     QA on the preview address: %s", body)
		}
	}
	what := dep.Ref
	if req.Sync {
		what = "the live color's commit"
	}
	d.p("     deployed %s (%s) into %s in %.1fs%s", what, short(dep.SHA), dep.Color, rec.DurationMS/1000,
		map[bool]string{true: "", false: "; " + verdict}[steps])
	if !rec.Verified {
		return dep, fmt.Errorf("the deployment into %s was not verified: %s", dep.Color, verdict)
	}
	return dep, nil
}

// switchUnderLoad makes the --switches switches, with a slow request
// drained across the first one.
func (d *demo) switchUnderLoad(ctx context.Context) error {
	live, err := d.client.Color(ctx)
	if err != nil {
		return err
	}
	d.story("%d switches under load. Each waits for the old color to drain and starts a watch that the next one", d.opts.Switches)
	d.p("   replaces; both releases are verified, so the gates let them through. Before the first switch a slow")
	d.p("   request (%.1f s) starts on %s: the switch lets it finish instead of cutting it.", float64(demoSlowMS)/1000, live)
	slow := make(chan string, 1)
	wrote := make(chan struct{})
	go func() {
		slow <- slowRequest(ctx, fmt.Sprintf("http://%s/slow?ms=%d", d.ep.Public, demoSlowMS), wrote)
	}()
	select {
	case <-wrote:
	case s := <-slow:
		return fmt.Errorf("the slow request ended before the switch: %s", s)
	case <-time.After(10 * time.Second):
		return errors.New("the slow request was not sent within 10s")
	}
	// The router forwards a request as soon as it has read it: once the
	// load has made some more round trips through it, the slow request is
	// at the app.
	if err := d.waitServed(ctx, live, 100); err != nil {
		return err
	}
	to := live.Other()
	for i := 1; i <= d.opts.Switches; i++ {
		paced := time.After(200 * time.Millisecond) // so that people can follow the story
		res, err := d.switchTo(ctx, to, fmt.Sprintf("demo switch %d", i))
		if err != nil {
			return err
		}
		if i == 1 {
			d.p("       the slow request started before the switch: %s", <-slow)
		}
		if err := d.waitServed(ctx, to, 300); err != nil {
			return err
		}
		select {
		case <-paced:
		case <-ctx.Done():
			return ctx.Err()
		}
		to = res.From
	}
	return nil
}

// switchTo switches to color and prints the figures.
func (d *demo) switchTo(ctx context.Context, to bluegreen.Color, reason string) (bluegreen.SwitchResult, error) {
	res, err := d.client.Switch(ctx, bluegreen.SwitchRequest{To: to, Reason: reason})
	if err != nil {
		return res, fmt.Errorf("switch %d to %s: %w", len(d.switches)+1, to, err)
	}
	d.switches = append(d.switches, res)
	snap := d.load.Snapshot()
	// The client's raw count: on the switch to the bad release it already
	// holds that release's own 500s, which the report puts apart; say what
	// they are rather than call them failed here.
	notOK := "0 not 2xx"
	if snap.Failed > 0 {
		notOK = fmt.Sprintf("%d not 2xx (%s)", snap.Failed, demoJoinCounts(snap.Failures))
	}
	d.p("   #%-2d %-5s → %-5s live %5.2f ms after the request; %s drained in %6.1f ms (%d in flight, %d cut)   load: %d requests, %s",
		len(d.switches), res.From, res.To, res.SwitchMS, res.From, res.Drain.DurationMS, res.Drain.InFlight, res.Drain.Cancelled,
		snap.Requests, notOK)
	return res, nil
}

// waitWatchPassed waits until color, live, has passed its watch.
func (d *demo) waitWatchPassed(ctx context.Context, color bluegreen.Color) error {
	last := d.switches[len(d.switches)-1]
	d.story("%s stays live; the watch judges it for %s from the last switch.", color, demoWatchWindow)
	var passed *bluegreen.Event
	err := demoPoll(ctx, demoWatchWindow+20*time.Second, "the end of "+string(color)+"'s watch", func() (bool, error) {
		evs, err := d.client.History(ctx, bluegreen.HistoryFilter{Action: bluegreen.ActionWatch, Limit: 20})
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			if ev.Revision >= last.Revision && ev.Color == color {
				if ev.Outcome != bluegreen.OutcomeOK {
					return false, fmt.Errorf("%s did not pass its watch: %s", color, ev.Message)
				}
				passed = &ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	d.p("   %s", passed.Message)
	return nil
}

// demoWindow is what the load client and the router counted while the bad
// release could serve: from just before the switch to it until after the
// automatic rollback had drained it.
type demoWindow struct {
	before, after   loadgen.Result
	routerBad5xx    int64 // 5xx answers of the bad color in the window, the router's own 502s left out
	badColor        bluegreen.Color
	rollbackEventID int64
}

// badRelease switches to the bad release and waits for the watch to roll it
// back by itself.
func (d *demo) badRelease(ctx context.Context, bad bluegreen.Color) (*Rollback, demoWindow, error) {
	w := demoWindow{badColor: bad}
	d.story("Switch to %s (the bad release) under load, and let the watch judge it:", bad)
	st, err := d.client.Status(ctx)
	if err != nil {
		return nil, w, err
	}
	routerBefore := st.Traffic[bad]
	w.before = d.load.Snapshot()
	res, err := d.switchTo(ctx, bad, "demo: the bad release")
	if err != nil {
		return nil, w, err
	}

	// The watch decides by itself: wait for its rollback event, then for
	// the drain of the bad color that the rollback made.
	var rbEv, drainEv *bluegreen.Event
	err = demoPoll(ctx, demoWatchWindow+20*time.Second, "the automatic rollback of "+string(bad), func() (bool, error) {
		evs, err := d.client.History(ctx, bluegreen.HistoryFilter{Limit: 50})
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			switch {
			case ev.Revision <= res.Revision:
			case ev.Action == bluegreen.ActionRollback && ev.Details["automatic"] == true:
				rbEv = &ev
			case ev.Action == bluegreen.ActionWatch && ev.Color == bad && ev.Outcome == bluegreen.OutcomeOK:
				return false, fmt.Errorf("the bad release passed its watch: %s", ev.Message)
			}
		}
		if rbEv == nil {
			return false, nil
		}
		for _, ev := range evs {
			if ev.Action == bluegreen.ActionDrain && ev.Revision == rbEv.Revision {
				drainEv = &ev
			}
		}
		return drainEv != nil, nil
	})
	if err != nil {
		return nil, w, err
	}
	good := rbEv.Color
	// Every answer of the bad release has reached the client once the
	// drain ended; a few more round trips make sure the client counted it.
	if err := d.waitServed(ctx, good, int64(4*d.opts.Connections)); err != nil {
		return nil, w, err
	}
	w.after = d.load.Snapshot()
	if st, err = d.client.Status(ctx); err != nil {
		return nil, w, err
	}
	routerAfter := st.Traffic[bad]
	w.routerBad5xx = (routerAfter.Status5xx - routerBefore.Status5xx) - (routerAfter.UpstreamErrors - routerBefore.UpstreamErrors)
	w.rollbackEventID = rbEv.ID

	rb := &Rollback{From: bad, To: good, Actor: rbEv.Actor, AfterMS: bluegreen.Milliseconds(rbEv.Time.Sub(res.SwappedAt))}
	var fig bluegreen.WatchFigures
	var thr struct {
		MinRequests   int64   `json:"min_requests"`
		MaxErrorRatio float64 `json:"max_error_ratio"`
	}
	if err := demoDetail(*rbEv, "figures", &fig); err != nil {
		return nil, w, err
	}
	if err := demoDetail(*rbEv, "thresholds", &thr); err != nil {
		return nil, w, err
	}
	_ = demoDetail(*rbEv, "breach", &rb.Breach)
	_ = demoDetail(*drainEv, "switch_ms", &rb.SwitchMS)
	rb.Requests, rb.Errors, rb.ErrorRatio = fig.Requests, fig.Errors, fig.ErrorRatio
	rb.MaxErrorRatio, rb.MinRequests = thr.MaxErrorRatio, thr.MinRequests
	d.p("   %.2f s after the switch the watch saw a 5xx ratio of %.1f%% (%d of %d requests), above its threshold of %.1f%%,",
		rb.AfterMS/1000, 100*rb.ErrorRatio, rb.Errors, rb.Requests, 100*rb.MaxErrorRatio)
	d.p("   and rolled back by itself: %s was live again %.2f ms later. The history says, by %q:", good, rb.SwitchMS, rb.Actor)
	d.p("     %s", rbEv.Message)
	return rb, w, nil
}
