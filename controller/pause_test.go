package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// zeroMeter measures nothing: the watch below never judges.
type zeroMeter struct{}

func (zeroMeter) Start(bluegreen.Color) func() bluegreen.WatchFigures {
	return func() bluegreen.WatchFigures { return bluegreen.WatchFigures{} }
}

// TestPause: a pause refuses while the lock is held and while a watch runs,
// changing nothing; granted, it holds a switch back until resume.
func TestPause(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	release, err := e.ctl.Acquire(ctx, "alice", "deploy green ref v2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.Pause(); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT || !strings.Contains(err.Error(), "locked by alice") {
		t.Fatalf("pause with the lock held: %v", err)
	}
	release(bluegreen.OutcomeOK)

	resume, err := e.ctl.Pause()
	if err != nil {
		t.Fatal(err)
	}
	switched := make(chan error, 1)
	go func() {
		_, err := e.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green})
		switched <- err
	}()
	select {
	case err := <-switched:
		t.Fatalf("a switch ran during the pause: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if e.rt.Live() != bluegreen.Blue {
		t.Fatal("the router moved during the pause")
	}
	resume()
	select {
	case err := <-switched:
		if err != nil {
			t.Fatalf("the switch after resume: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the switch did not run after resume")
	}
	if e.rt.Live() != bluegreen.Green {
		t.Fatal("the switch after resume did not move the router")
	}

	w := newEnvWith(t, nil, func(o *controller.Options) {
		o.Watch = &controller.WatchConfig{Window: time.Hour, Interval: time.Hour, MinRequests: 1, MaxErrorRatio: 0.5}
		o.Meter = zeroMeter{}
	})
	if _, err := w.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ctl.Pause(); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT || !strings.Contains(err.Error(), "the watch of green runs until") {
		t.Fatalf("pause during a watch: %v", err)
	}
	// Refused, it held nothing back.
	if _, err := w.ctl.Rollback(ctx, bluegreen.SwitchRequest{}); err != nil {
		t.Fatalf("rollback after a refused pause: %v", err)
	}
}

// TestRefresh: a commit by another process makes this controller's next
// commit conflict, until Refresh reloads the state.
func TestRefresh(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st, err := e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := st.Clone()
	cs := next.Colors[bluegreen.Green]
	cs.Branch = "green-2"
	next.Colors[bluegreen.Green] = cs
	if _, err := e.store.Commit(ctx, next, bluegreen.Event{Time: time.Now(), Actor: "another serve", Action: bluegreen.ActionConfig,
		Outcome: bluegreen.OutcomeOK, Message: "green configuration changed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green}); err == nil {
		t.Fatal("a switch on a stale state went through")
	}
	if e.rt.Live() != bluegreen.Blue {
		t.Fatal("a switch that could not commit moved the router")
	}
	got, err := e.ctl.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Colors[bluegreen.Green].Branch != "green-2" || e.ctl.State().Revision != st.Revision+1 {
		t.Fatalf("after Refresh: green %+v, revision %d (was %d)", got.Colors[bluegreen.Green], e.ctl.State().Revision, st.Revision)
	}
	if _, err := e.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatalf("a switch after Refresh: %v", err)
	}
}
