package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

func TestLockRefusesOthersAndSwitches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	release, err := e.ctl.Acquire(ctx, "alice", "deploy green ref v2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ctl.Acquire(ctx, "bob", "deploy green ref v3")
	if bluegreen.ErrorCode(err) != bluegreen.ECONFLICT || !strings.HasPrefix(err.Error(), "locked by alice since ") || !strings.HasSuffix(err.Error(), "(deploy green ref v2)") {
		t.Fatalf("second acquire: %v", err)
	}
	if _, err := e.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green}); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Fatalf("switch while locked: %v", err)
	}
	if e.rt.Live() != bluegreen.Blue {
		t.Fatal("a switch went through while locked")
	}
	if err := e.ctl.ReleaseLock(ctx, "carol", false); bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
		t.Fatalf("releasing a running operation's lock without force: %v", err)
	}
	release(bluegreen.OutcomeOK)
	if l := e.ctl.Lock(); l != nil {
		t.Fatalf("lock still held: %+v", l)
	}
	if _, err := e.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatalf("switch after release: %v", err)
	}
	if evs := e.history(t, bluegreen.ActionLock); len(evs) != 3 || evs[1].Outcome != bluegreen.OutcomeRefused || evs[1].Actor != "carol" {
		t.Fatalf("lock events %+v, want taken, carol's release refused, and released", evs)
	}
}

func TestReclaimDeadHolder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.ctl.Acquire(ctx, "alice", "deploy green"); err != nil {
		t.Fatal(err)
	}
	// A new controller instance on the same store: the old holder is gone.
	st, err := e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctl2 := controller.New(controller.Options{Store: e.store, Router: routerAdapter{e.rt}, Health: nil, Now: time.Now}, st)
	if l := ctl2.Lock(); l == nil || l.Owner != "alice" {
		t.Fatalf("the new instance does not see the lock: %+v", l)
	}
	if err := ctl2.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if l := ctl2.Lock(); l != nil {
		t.Fatalf("lock of a dead holder not reclaimed: %+v", l)
	}
	evs := e.history(t, bluegreen.ActionLock)
	if len(evs) != 2 || evs[0].Outcome != bluegreen.OutcomeFailed || !strings.Contains(evs[0].Message, "interrupted") {
		t.Fatalf("reclaim events %+v", evs)
	}
}

// TestReclaimPendingPromotion: a deployment that succeeded but whose
// promotion: auto switch had not run when serve stopped says so after a
// restart (a follower would otherwise wait for it forever).
func TestReclaimPendingPromotion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := st.Clone()
	cs := next.Colors[bluegreen.Green]
	cs.Deployment = &bluegreen.Deployment{ID: "d-7", Color: bluegreen.Green, Ref: "green",
		Status: bluegreen.DeploymentSucceeded, Promotion: bluegreen.PromotionPending}
	next.Colors[bluegreen.Green] = cs
	if st, err = e.store.Commit(ctx, next); err != nil {
		t.Fatal(err)
	}
	ctl2 := controller.New(controller.Options{Store: e.store, Router: routerAdapter{e.rt}, Now: time.Now}, st)
	if err := ctl2.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Colors[bluegreen.Green].Deployment; d.Promotion != bluegreen.PromotionInterrupted || d.Status != bluegreen.DeploymentSucceeded {
		t.Fatalf("after reclaim: status %s, promotion %q; want succeeded and interrupted", d.Status, d.Promotion)
	}
	evs := e.history(t, bluegreen.ActionDeploy)
	if len(evs) != 1 || evs[0].Outcome != bluegreen.OutcomeFailed || !strings.Contains(evs[0].Message, "automatic switch after deployment d-7") {
		t.Fatalf("reclaim events %+v", evs)
	}
}
