package bluegreen_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestDeploymentTransitions walks the state machine's legal moves and
// checks that the illegal ones are refused and change nothing.
func TestDeploymentTransitions(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("x", 3600))
	mustIllegal := func(what string, d *bluegreen.Deployment, move func() error) {
		t.Helper()
		before := *d
		err := move()
		if !errors.Is(err, bluegreen.ErrTransition) || bluegreen.ErrorCode(err) != bluegreen.EINTERNAL {
			t.Errorf("%s: err %v; want ErrTransition", what, err)
		}
		if d.Status != before.Status || d.Step != before.Step || d.Promotion != before.Promotion || d.Error != before.Error {
			t.Errorf("%s changed the deployment: %+v; was %+v", what, *d, before)
		}
	}

	d := &bluegreen.Deployment{ID: "d1"}
	if err := d.Begin(bluegreen.StepFetch, ""); err == nil {
		t.Error("Begin before Start succeeded")
	}
	if err := d.Start(at); err != nil || d.Status != bluegreen.DeploymentRunning || !d.Started.Equal(at) || d.Started.Location() != time.UTC {
		t.Fatalf("Start: %v, %+v", err, *d)
	}
	mustIllegal("a second Start", d, func() error { return d.Start(at) })
	if err := d.Begin(bluegreen.StepBuild(2, 3), "make"); err != nil || d.Step != "build 2/3" || d.Command != "make" {
		t.Fatalf("Begin: %v, %+v", err, *d)
	}
	mustIllegal("Promote while running", d, func() error { return d.Promote(nil) })
	if err := d.Fail(bluegreen.StepBuild(2, 3), errors.New("exit 1"), []string{"boom"}, at); err != nil ||
		d.Status != bluegreen.DeploymentFailed || d.Error != "exit 1" || len(d.Output) != 1 || !d.Ended.Equal(at) {
		t.Fatalf("Fail: %v, %+v", err, *d)
	}
	if d.Status.Final() != true || bluegreen.DeploymentRunning.Final() {
		t.Error("Final: want failed final and running not")
	}
	for name, move := range map[string]func() error{
		"Begin after Fail":     func() error { return d.Begin(bluegreen.StepStop, "") },
		"Succeed after Fail":   func() error { return d.Succeed(at, false) },
		"Interrupt after Fail": func() error { return d.Interrupt("x", at) },
		"Fail after Fail":      func() error { return d.Fail(bluegreen.StepStop, errors.New("again"), nil, at) },
	} {
		mustIllegal(name, d, move)
	}

	ok := &bluegreen.Deployment{ID: "d2"}
	_ = ok.Start(at)
	_ = ok.Begin(bluegreen.StepVerify, "")
	if err := ok.Succeed(at, true); err != nil || ok.Status != bluegreen.DeploymentSucceeded || ok.Step != "" ||
		ok.Promotion != bluegreen.PromotionPending {
		t.Fatalf("Succeed: %v, %+v", err, *ok)
	}
	if err := ok.Promote(errors.New("refused: unhealthy")); err != nil || ok.Promotion != bluegreen.PromotionRefused ||
		ok.PromotionError != "refused: unhealthy" || ok.Promoted {
		t.Fatalf("Promote(err): %v, %+v", err, *ok)
	}
	mustIllegal("a second Promote", ok, func() error { return ok.Promote(nil) })
	mustIllegal("InterruptPromotion after Promote", ok, func() error { return ok.InterruptPromotion("x") })

	sw := &bluegreen.Deployment{ID: "d3"}
	_ = sw.Start(at)
	_ = sw.Succeed(at, true)
	if err := sw.Promote(nil); err != nil || !sw.Promoted || sw.Promotion != bluegreen.PromotionSwitched {
		t.Fatalf("Promote(nil): %v, %+v", err, *sw)
	}
	manual := &bluegreen.Deployment{ID: "d4"}
	_ = manual.Start(at)
	_ = manual.Succeed(at, false)
	mustIllegal("Promote without promotion: auto", manual, func() error { return manual.Promote(nil) })

	cut := &bluegreen.Deployment{ID: "d5"}
	_ = cut.Start(at)
	if err := cut.Interrupt("serve stopped", at); err != nil || cut.Status != bluegreen.DeploymentInterrupted || cut.Error != "serve stopped" {
		t.Fatalf("Interrupt: %v, %+v", err, *cut)
	}
	pend := &bluegreen.Deployment{ID: "d6"}
	_ = pend.Start(at)
	_ = pend.Succeed(at, true)
	if err := pend.InterruptPromotion("serve stopped first"); err != nil || pend.Promotion != bluegreen.PromotionInterrupted {
		t.Fatalf("InterruptPromotion: %v, %+v", err, *pend)
	}
}
