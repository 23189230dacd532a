package controller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// fastWatch is a watch short enough for a unit test.
func fastWatch(window time.Duration) *controller.WatchConfig {
	return &controller.WatchConfig{Window: window, Interval: time.Millisecond, MinRequests: 10, MaxErrorRatio: 0.05}
}

// TestFastWatchBreachRollsBack: a switched-to color whose 5xx ratio is
// above the threshold is rolled back automatically; the watch's end, the
// automatic rollback and its drain are recorded, and Notify hears of both.
func TestFastWatchBreachRollsBack(t *testing.T) {
	f := newFast(t, func(o *controller.Options) {
		o.Deploy = nil // no release gates: the health check alone
		o.Watch = fastWatch(time.Minute)
		o.Meter = fakeMeter{bluegreen.WatchFigures{Requests: 100, Errors: 40, ErrorRatio: 0.4, P99MS: 12}}
	})
	res, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Watch == nil || res.Watch.Color != bluegreen.Green || res.Watch.Previous != bluegreen.Blue {
		t.Fatalf("switch result's watch %+v; want green watched, blue kept", res.Watch)
	}
	testenv.WaitFor(t, 2*time.Second, "the automatic rollback", func() bool { return len(f.events(bluegreen.ActionDrain)) == 2 })

	st := f.ctl.State()
	if st.Live != bluegreen.Blue || st.Previous != bluegreen.Green || st.Watch != nil || f.router.serving() != bluegreen.Blue {
		t.Errorf("state live %s previous %s watch %+v, router %s; want blue back, no watch", st.Live, st.Previous, st.Watch, f.router.serving())
	}
	watch := f.events(bluegreen.ActionWatch)
	if len(watch) != 1 || !strings.HasPrefix(watch[0], "failed: green failed the watch after ") ||
		!strings.HasSuffix(watch[0], "5xx ratio 40.0% (40 of 100 requests) is above the threshold 5.0%; rolling back to blue") {
		t.Errorf("watch events %q; want the breach", watch)
	}
	rb := f.events(bluegreen.ActionRollback)
	if len(rb) != 1 || rb[0] != "ok: automatically rolled back traffic from green to blue: 5xx ratio 40.0% (40 of 100 requests) is above the threshold 5.0%" {
		t.Errorf("rollback events %q", rb)
	}
	var auto bluegreen.Event
	for _, e := range f.store.all() {
		if e.Action == bluegreen.ActionRollback {
			auto = e
		}
	}
	if auto.Actor != "bluegreen (watch)" || auto.Details["automatic"] != true || auto.Details["breach"] == nil {
		t.Errorf("rollback event %+v; want by the watch, automatic, with the breach", auto)
	}
	if k := f.ctl.Counters(); k.Switches != 1 || k.RollbacksAutomatic != 1 || k.RollbacksManual != 0 {
		t.Errorf("counters %+v", k)
	}
	got := strings.Join(f.notifiedActions(), ", ")
	if got != "switch ok, watch failed, rollback ok" {
		t.Errorf("notified %s; want the switch, the breach, the rollback", got)
	}
}

// TestFastWatchPasses: a color within the thresholds until the window
// ends passes the watch; the watch is cleared and traffic stays.
func TestFastWatchPasses(t *testing.T) {
	f := newFast(t, func(o *controller.Options) {
		o.Deploy = nil
		o.Watch = fastWatch(20 * time.Millisecond)
		o.Meter = fakeMeter{bluegreen.WatchFigures{Requests: 100, Errors: 1, ErrorRatio: 0.01, P99MS: 12}}
	})
	if _, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 2*time.Second, "the end of the watch", func() bool { return len(f.events(bluegreen.ActionWatch)) == 1 })
	want := "ok: green passed the watch: 100 requests, 1.0% 5xx, p99 12 ms over 20ms"
	if got := f.events(bluegreen.ActionWatch); got[0] != want {
		t.Errorf("watch event %q; want %q", got[0], want)
	}
	st := f.ctl.State()
	if st.Live != bluegreen.Green || st.Watch != nil || len(f.events(bluegreen.ActionRollback)) != 0 {
		t.Errorf("live %s, watch %+v, rollbacks %q; want green, no watch, no rollback", st.Live, st.Watch, f.events(bluegreen.ActionRollback))
	}
}

// TestFastWatchTooFewRequestsIsNotJudged: below MinRequests even a high
// error ratio is not a breach.
func TestFastWatchTooFewRequestsIsNotJudged(t *testing.T) {
	f := newFast(t, func(o *controller.Options) {
		o.Deploy = nil
		o.Watch = fastWatch(20 * time.Millisecond)
		o.Meter = fakeMeter{bluegreen.WatchFigures{Requests: 3, Errors: 3, ErrorRatio: 1}}
	})
	if _, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 2*time.Second, "the end of the watch", func() bool { return len(f.events(bluegreen.ActionWatch)) == 1 })
	if got := f.events(bluegreen.ActionWatch)[0]; !strings.HasPrefix(got, "ok: green passed the watch: 3 requests") {
		t.Errorf("watch event %q; want passed", got)
	}
	if f.ctl.Live() != bluegreen.Green {
		t.Error("rolled back on too few requests")
	}
}

// TestFastRollbackAfterTheWatchPasses: a manual rollback goes back to the
// previous color under the health gate: refused while it is unhealthy,
// done (and counted as manual) once it is healthy.
func TestFastRollbackAfterTheWatchPasses(t *testing.T) {
	f := newFast(t, func(o *controller.Options) { o.Deploy = nil })
	ctx := t.Context()
	if _, err := f.ctl.Rollback(ctx, bluegreen.SwitchRequest{Actor: "bob"}); bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
		t.Fatalf("rollback before any switch: %v; want refused", err)
	}
	if _, err := f.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	f.health.set(bluegreen.Blue, "connection refused")
	_, err := f.ctl.Rollback(ctx, bluegreen.SwitchRequest{Actor: "bob"})
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || !strings.Contains(err.Error(), "blue is unhealthy: connection refused") {
		t.Fatalf("rollback to an unhealthy color: %v; want refused", err)
	}
	f.health.set(bluegreen.Blue, "")
	res, err := f.ctl.Rollback(ctx, bluegreen.SwitchRequest{Actor: "bob"})
	if err != nil || !res.Rollback || res.To != bluegreen.Blue || f.router.serving() != bluegreen.Blue {
		t.Fatalf("rollback %+v, %v", res, err)
	}
	rb := f.events(bluegreen.ActionRollback)
	if len(rb) != 3 || rb[0] != "refused: rollback refused: nothing to roll back: no switch has happened yet" ||
		!strings.HasPrefix(rb[1], "refused: rollback refused: blue is unhealthy") || rb[2] != "ok: rolled back traffic from green to blue" {
		t.Errorf("rollback events:\n%s", strings.Join(rb, "\n"))
	}
	if k := f.ctl.Counters(); k.RollbacksManual != 1 || k.RollbacksAutomatic != 0 {
		t.Errorf("counters %+v", k)
	}
}

// TestFastWatchRetriesARefusedRollback: when the automatic rollback is
// refused (the previous color failed its fresh health check: one probe
// timing out on a loaded machine is enough), the watch tries again every
// interval instead of leaving the bad release live; it rolls back once
// the previous color passes.
func TestFastWatchRetriesARefusedRollback(t *testing.T) {
	f := newFast(t, func(o *controller.Options) {
		o.Deploy = nil
		o.Watch = fastWatch(time.Minute)
		o.Watch.Interval = 5 * time.Millisecond
		o.Meter = fakeMeter{bluegreen.WatchFigures{Requests: 100, Errors: 40, ErrorRatio: 0.4, P99MS: 12}}
	})
	if _, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	f.health.set(bluegreen.Blue, "no answer within 150ms")
	testenv.WaitFor(t, 2*time.Second, "a refused automatic rollback", func() bool {
		for _, e := range f.events(bluegreen.ActionRollback) {
			if strings.HasPrefix(e, "refused: ") {
				return true
			}
		}
		return false
	})
	if f.ctl.State().Live != bluegreen.Green {
		t.Fatal("rolled back to an unhealthy color")
	}
	f.health.set(bluegreen.Blue, "")
	testenv.WaitFor(t, 2*time.Second, "the automatic rollback once blue passes", func() bool {
		return f.ctl.State().Live == bluegreen.Blue
	})
	rb := f.events(bluegreen.ActionRollback)
	if last := rb[len(rb)-1]; !strings.HasPrefix(last, "ok: automatically rolled back traffic from green to blue") {
		t.Errorf("rollback events %q; want the automatic rollback last", rb)
	}
}
