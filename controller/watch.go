package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// WatchConfig configures the post-switch watch: after every switch the new
// live color's figures since the switch are judged every Interval for
// Window; a breached threshold rolls back to the previous color at once.
type WatchConfig struct {
	Window, Interval time.Duration
	// MinRequests is how many requests the color must have answered before
	// it is judged at all.
	MinRequests int64
	// MaxErrorRatio is the highest acceptable share of 5xx answers.
	MaxErrorRatio float64
	// MaxP99 is the highest acceptable 99th percentile latency; 0 means not
	// judged.
	MaxP99 time.Duration
	// StopPreviousAfter, when > 0, stops the previous color's app that long
	// after a passed watch (needs a deploy configuration).
	StopPreviousAfter time.Duration
	// Probe, when not nil, returns an extra value at every interval (such
	// as a Prometheus query) that must not exceed ProbeMax. Its errors are
	// logged, never judged: an unreachable metrics server does not roll
	// back a release.
	Probe     func(ctx context.Context, color bluegreen.Color) (float64, error)
	ProbeMax  float64
	ProbeName string
}

// Meter measures the router's per-color traffic.
type Meter interface {
	// Start begins a measurement of color and returns a function that
	// reports the traffic since Start was called. The function is safe for
	// concurrent use.
	Start(color bluegreen.Color) func() bluegreen.WatchFigures
}

// watchRun is the watch in progress.
type watchRun struct {
	w       bluegreen.Watch
	measure func() bluegreen.WatchFigures
	cancel  context.CancelFunc

	mu    sync.Mutex
	probe *float64
}

// newWatch returns the watch to commit with a switch to `to`, or nil when
// there is no watch configured.
func (c *Controller) newWatch(from, to bluegreen.Color, at time.Time) *bluegreen.Watch {
	if c.watchCfg == nil || c.meter == nil {
		return nil
	}
	return &bluegreen.Watch{Color: to, Previous: from, Started: at.UTC(), Until: at.Add(c.watchCfg.Window).UTC()}
}

// cancelWatch stops the watch in progress, if any, without waiting for it:
// the caller may be the watch itself, rolling back. Called with op held.
func (c *Controller) cancelWatch() {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.watch != nil {
		c.watch.cancel()
		c.watch = nil
	}
}

// StopWatch stops the watch in progress, if any, without recording its
// end: the state keeps it, for the controller that leads next to carry on
// (ResumeWatch). An instance that stops leading calls it.
func (c *Controller) StopWatch() { c.cancelWatch() }

// startWatch starts watching w, measuring from now on. Called with op held,
// right after the swap.
func (c *Controller) startWatch(w bluegreen.Watch) {
	ctx, cancel := context.WithCancel(c.fence(context.Background()))
	run := &watchRun{w: w, measure: c.meter.Start(w.Color), cancel: cancel}
	c.watchMu.Lock()
	if c.watch != nil {
		c.watch.cancel()
	}
	c.watch = run
	c.watchMu.Unlock()
	go c.runWatch(ctx, run)
}

// ResumeWatch carries on a watch that was in progress when the previous
// controller stopped: it watches until the recorded end (with figures from
// now on: the router's counters started again), or records that the watch
// ended unjudged if that time has passed. Call it once after New.
func (c *Controller) ResumeWatch(ctx context.Context) {
	st := c.State()
	w := st.Watch
	if w == nil {
		return
	}
	if c.watchCfg == nil || c.meter == nil || !c.now().Before(w.Until) || st.Live != w.Color {
		_, _ = c.endWatch(ctx, *w, bluegreen.OutcomeOK, fmt.Sprintf("the watch of %s ended while bluegreen was not running (it was due to end at %s); not judged",
			w.Color, w.Until.Format(time.RFC3339)), nil)
		return
	}
	c.op.Lock()
	defer c.op.Unlock()
	c.startWatch(*w)
	c.logger.Info("resuming the watch", "color", w.Color, "until", w.Until)
}

// watchFigures returns the figures of the watch in progress, nil when none.
func (c *Controller) watchFigures() *bluegreen.WatchFigures {
	c.watchMu.Lock()
	run := c.watch
	c.watchMu.Unlock()
	if run == nil {
		return nil
	}
	f := run.measure()
	run.mu.Lock()
	f.Prometheus = run.probe
	run.mu.Unlock()
	return &f
}

func (c *Controller) runWatch(ctx context.Context, run *watchRun) {
	cfg := c.watchCfg
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	end := time.NewTimer(run.w.Until.Sub(c.now()))
	defer end.Stop()
	for {
		final := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-end.C:
			final = true
		}
		f := run.measure()
		if cfg.Probe != nil {
			if v, err := cfg.Probe(ctx, run.w.Color); err != nil {
				c.logger.Warn("watch probe failed; not judged", "probe", cfg.ProbeName, "err", err)
			} else {
				run.mu.Lock()
				run.probe = &v
				run.mu.Unlock()
				f.Prometheus = &v
			}
		}
		if ctx.Err() != nil {
			return
		}
		if why := c.judge(f); why != "" {
			c.breach(ctx, run, f, why)
			return
		}
		if final {
			msg := fmt.Sprintf("%s passed the watch: %s over %s", run.w.Color, describeFigures(f), cfg.Window)
			if ended, _ := c.endWatch(ctx, run.w, bluegreen.OutcomeOK, msg, &f); ended && cfg.StopPreviousAfter > 0 {
				time.AfterFunc(cfg.StopPreviousAfter, func() { c.stopPrevious(run.w) })
			}
			c.watchMu.Lock()
			if c.watch == run {
				c.watch = nil
			}
			c.watchMu.Unlock()
			return
		}
	}
}

// judge returns why f breaks a threshold, "" when it does not (or when
// there are too few requests to judge).
func (c *Controller) judge(f bluegreen.WatchFigures) string {
	cfg := c.watchCfg
	if cfg.Probe != nil && f.Prometheus != nil && *f.Prometheus > cfg.ProbeMax {
		return fmt.Sprintf("%s returned %g, above the threshold %g", cfg.ProbeName, *f.Prometheus, cfg.ProbeMax)
	}
	if f.Requests < cfg.MinRequests {
		return ""
	}
	if f.ErrorRatio > cfg.MaxErrorRatio {
		return fmt.Sprintf("5xx ratio %.1f%% (%d of %d requests) is above the threshold %.1f%%",
			100*f.ErrorRatio, f.Errors, f.Requests, 100*cfg.MaxErrorRatio)
	}
	if cfg.MaxP99 > 0 && f.P99MS > bluegreen.Milliseconds(cfg.MaxP99) {
		return fmt.Sprintf("p99 latency %.0f ms is above the threshold %s", f.P99MS, cfg.MaxP99)
	}
	return ""
}

// breach records why the watched color failed and rolls back.
func (c *Controller) breach(ctx context.Context, run *watchRun, f bluegreen.WatchFigures, why string) {
	w := run.w
	msg := fmt.Sprintf("%s failed the watch after %s: %s; rolling back to %s", w.Color,
		c.now().Sub(w.Started).Round(time.Second), why, w.Previous)
	ended, err := c.endWatch(ctx, w, bluegreen.OutcomeFailed, msg, &f)
	if !ended && err == nil {
		return // superseded meanwhile: another switch replaced this watch
	}
	// A store error recording the end must not keep a bad release live:
	// roll back anyway (the switch clears the watch from the state).
	c.logger.Warn(msg)
	details := map[string]any{"automatic": true, "breach": why, "figures": f, "thresholds": c.thresholds()}
	rollback := func() (bluegreen.SwitchResult, error) {
		return c.Rollback(context.WithoutCancel(ctx), bluegreen.SwitchRequest{ExpectFrom: w.Color,
			Actor: "bluegreen (watch)", Reason: "automatic rollback: " + why, Automatic: true, Details: details})
	}
	res, err := rollback()
	// A refusal (the previous color failed its fresh health check, a gate,
	// a hook) must not leave the bad release live: try again every
	// interval until the watch's window ends, unless another switch (which
	// ends this watch's context) or a person moves traffic first. Each
	// refusal is recorded by the rollback itself.
	for bluegreen.ErrorCode(err) == bluegreen.EREFUSED && c.now().Before(w.Until) {
		c.logger.Warn("automatic rollback refused; trying again", "to", w.Previous, "in", c.watchCfg.Interval, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.watchCfg.Interval):
		}
		if c.Live() != w.Color {
			return // traffic moved meanwhile
		}
		res, err = rollback()
	}
	if err != nil {
		c.logger.Error("automatic rollback failed", "to", w.Previous, "err", err)
		if bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
			// Refusals (health, gates, hooks) are recorded by the rollback
			// itself; anything else is recorded here.
			c.record(context.WithoutCancel(ctx), bluegreen.Event{Time: c.now(), Actor: "bluegreen (watch)",
				Action: bluegreen.ActionRollback, Color: w.Previous, Outcome: bluegreen.OutcomeFailed,
				Message: fmt.Sprintf("automatic rollback to %s failed: %v", w.Previous, err), Details: details})
		}
		return
	}
	c.logger.Warn("automatic rollback done", "to", res.To, "switch_ms", res.SwitchMS)
}

// thresholds describes the watch's thresholds for the history.
func (c *Controller) thresholds() map[string]any {
	cfg := c.watchCfg
	t := map[string]any{"min_requests": cfg.MinRequests, "max_error_ratio": cfg.MaxErrorRatio,
		"window": cfg.Window.String(), "interval": cfg.Interval.String()}
	if cfg.MaxP99 > 0 {
		t["max_p99_ms"] = bluegreen.Milliseconds(cfg.MaxP99)
	}
	if cfg.Probe != nil {
		t["probe"], t["probe_max"] = cfg.ProbeName, cfg.ProbeMax
	}
	return t
}

// endWatch clears w from the state with an event, if it is still the watch
// in the state, and tells Notify. It reports whether it ended the watch;
// err is a failure to record it (the watch then stays in the state).
func (c *Controller) endWatch(ctx context.Context, w bluegreen.Watch, outcome bluegreen.Outcome, msg string, f *bluegreen.WatchFigures) (bool, error) {
	ev, ended, err := c.commitEndWatch(context.WithoutCancel(ctx), w, outcome, msg, f)
	if ended {
		c.notify(ev)
	}
	return ended, err
}

func (c *Controller) commitEndWatch(ctx context.Context, w bluegreen.Watch, outcome bluegreen.Outcome, msg string, f *bluegreen.WatchFigures) (bluegreen.Event, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.state.Watch
	if cur == nil || cur.Color != w.Color || !cur.Started.Equal(w.Started) {
		return bluegreen.Event{}, false, nil
	}
	next := c.state.Clone()
	next.Watch = nil
	details := map[string]any{"until": w.Until, "started": w.Started, "previous": w.Previous}
	if f != nil {
		details["figures"] = *f
	}
	if c.watchCfg != nil {
		details["thresholds"] = c.thresholds()
	}
	ev := bluegreen.Event{Time: c.now(), Actor: "bluegreen (watch)", Action: bluegreen.ActionWatch, Color: w.Color,
		Outcome: outcome, Message: msg, Details: details}
	committed, recorded, err := c.commitEvent(ctx, next, ev)
	if err != nil {
		c.logger.Error("recording the end of the watch", "err", err)
		return bluegreen.Event{}, false, err
	}
	c.state = committed
	return recorded, true, nil
}

// stopPrevious stops the app of the color a passed watch kept for rollback,
// if nothing changed since.
func (c *Controller) stopPrevious(w bluegreen.Watch) {
	dc := c.deployCfg
	if dc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.op.Lock()
	defer c.op.Unlock()
	st := c.State()
	if st.Live != w.Color || st.Watch != nil || st.Lock != nil || !st.Since.Equal(w.Started) {
		return // a switch, deploy or new watch happened since
	}
	if d := st.DNSDrain; d != nil && d.Color == w.Previous && c.now().Before(d.Until) {
		// Resolvers may still hand out its address: stop it once they can't.
		time.AfterFunc(d.Until.Sub(c.now()), func() { c.stopPrevious(w) })
		return
	}
	ev := bluegreen.Event{Time: c.now(), Actor: "bluegreen (watch)", Action: bluegreen.ActionProcess, Color: w.Previous,
		Outcome: bluegreen.OutcomeOK,
		Message: fmt.Sprintf("stopped %s's app %s after %s passed its watch (stop_previous_after)", w.Previous,
			c.watchCfg.StopPreviousAfter, w.Color)}
	if err := dc.Driver.Stop(ctx, w.Previous); err != nil {
		ev.Outcome, ev.Message = bluegreen.OutcomeFailed, fmt.Sprintf("stopping %s's app after the watch failed: %v", w.Previous, err)
	}
	if err := c.store.Append(ctx, ev); err != nil {
		c.logger.Error("recording the stop of the previous color", "err", err)
	}
}

func describeFigures(f bluegreen.WatchFigures) string {
	s := fmt.Sprintf("%d requests, %.1f%% 5xx, p99 %.0f ms", f.Requests, 100*f.ErrorRatio, f.P99MS)
	if f.Prometheus != nil {
		s += fmt.Sprintf(", prometheus %g", *f.Prometheus)
	}
	return s
}
