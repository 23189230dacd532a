package controller_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// TestFastDeployVerifiesAndPromotes: a deploy with a build step, verify on
// deploy and promotion: auto runs every step in order, starts the release
// it checked out, stores the release with its passed verification, frees
// the lock and switches traffic to the new color.
func TestFastDeployVerifiesAndPromotes(t *testing.T) {
	f := newFast(t, func(o *controller.Options) {
		o.Deploy.Build = []string{"make"}
		o.Gates = controller.GateConfig{VerifyOnDeploy: true, AutoPromote: true}
	})
	var lines []string
	d, err := f.ctl.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"},
		func(p bluegreen.Progress) { lines = append(lines, string(p.Step)+": "+p.Line) })
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != bluegreen.DeploymentSucceeded || d.SHA != "sha-v2" || d.Step != "" || !d.Promoted ||
		d.Promotion != bluegreen.PromotionSwitched || d.Verification == nil || !d.Verification.Passed {
		t.Errorf("deployment %+v; want succeeded sha-v2, verified, promoted", d)
	}
	var steps []bluegreen.DeployStep
	for _, s := range d.Steps {
		steps = append(steps, s.Name)
	}
	want := []bluegreen.DeployStep{bluegreen.StepFetch, bluegreen.StepCheckout, bluegreen.StepBuild(1, 1),
		bluegreen.StepStop, bluegreen.StepStart, bluegreen.StepHealth, bluegreen.StepVerify}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %v; want %v", steps, want)
	}
	if got, want := f.driver.log(), []string{"stop green", "start green /releases/green/sha-v2"}; !slices.Equal(got, want) {
		t.Errorf("driver calls %v; want %v", got, want)
	}
	if !slices.Contains(lines, "build 1/1: ok: make") {
		t.Errorf("progress %q lacks the build step's output", lines)
	}

	st := f.ctl.State()
	g := st.Colors[bluegreen.Green]
	if st.Live != bluegreen.Green || f.router.serving() != bluegreen.Green || st.Lock != nil {
		t.Errorf("live %s, router %s, lock %+v; want green live and the lock free", st.Live, f.router.serving(), st.Lock)
	}
	if g.Release == nil || g.Release.SHA != "sha-v2" || g.Release.Deployment != d.ID || !g.Verified() {
		t.Errorf("green's release %+v, verification %+v; want sha-v2 of %s, verified", g.Release, g.Verification, d.ID)
	}
	if g.Deployment == nil || g.Deployment.Promotion != bluegreen.PromotionSwitched {
		t.Errorf("green's stored deployment %+v; want the promotion recorded", g.Deployment)
	}
	deploys := f.events(bluegreen.ActionDeploy)
	if len(deploys) != 2 || !strings.HasPrefix(deploys[0], "ok: deploy of v2 into green started") ||
		!strings.HasPrefix(deploys[1], "ok: deployed v2 (sha-v2) into green in ") {
		t.Errorf("deploy events %q; want started, then deployed", deploys)
	}
	if locks := f.events(bluegreen.ActionLock); len(locks) != 2 || locks[0] != "ok: lock taken: deploy green ref v2" ||
		locks[1] != "ok: lock released: deploy green ref v2" {
		t.Errorf("lock events %q", locks)
	}
	if sw := f.events(bluegreen.ActionSwitch); len(sw) != 1 || sw[0] != "ok: switched traffic from blue to green" {
		t.Errorf("switch events %q; want the automatic switch", sw)
	}
	if got, want := f.notifiedActions(), []string{"verify ok", "deploy ok", "switch ok"}; !slices.Equal(got, want) {
		t.Errorf("notified %v; want %v", got, want)
	}
	if k := f.ctl.Counters(); k.DeploymentsOK != 1 || k.Switches != 1 || k.VerificationsPassed != 1 {
		t.Errorf("counters %+v", k)
	}
}

// TestFastDeployFailsAtBuild: a failing build step fails the deployment
// there with its output, starts nothing, leaves the live color and the
// state's release alone, and releases the lock with outcome failed.
func TestFastDeployFailsAtBuild(t *testing.T) {
	f := newFast(t, func(o *controller.Options) { o.Deploy.Build = []string{"make", "fail migrate"} })
	d, err := f.ctl.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v3", Actor: "ada"}, nil)
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED ||
		!strings.Contains(err.Error(), "deploy of v3 into green failed at build 2/2: exit status 1") {
		t.Fatalf("err %v; want refused at build 2/2", err)
	}
	if d.Status != bluegreen.DeploymentFailed || d.Step != bluegreen.StepBuild(2, 2) || d.Command != "fail migrate" ||
		d.Error != "exit status 1" || !slices.Equal(d.Output, []string{"migrating...", "error: table exists"}) || d.Ended.IsZero() {
		t.Errorf("deployment %+v; want failed at build 2/2 with its output", d)
	}
	if calls := f.driver.log(); len(calls) != 0 {
		t.Errorf("driver calls %v; want none (the build failed before stop)", calls)
	}
	st := f.ctl.State()
	if st.Live != bluegreen.Blue || st.Lock != nil || st.Colors[bluegreen.Green].Release != nil {
		t.Errorf("state %+v; want blue live, the lock free, no release in green", st)
	}
	if got := st.Colors[bluegreen.Green].Deployment; got == nil || got.Status != bluegreen.DeploymentFailed {
		t.Errorf("green's deployment %+v; want the failed one", got)
	}
	deploys := f.events(bluegreen.ActionDeploy)
	if len(deploys) != 2 || deploys[1] != "failed: deploy of v3 into green failed at build 2/2: exit status 1" {
		t.Errorf("deploy events %q", deploys)
	}
	if locks := f.events(bluegreen.ActionLock); len(locks) != 2 || !strings.HasPrefix(locks[1], "failed: lock released") {
		t.Errorf("lock events %q; want the release recorded as failed", locks)
	}
	if k := f.ctl.Counters(); k.DeploymentsFailed != 1 || k.DeploymentsOK != 0 {
		t.Errorf("counters %+v", k)
	}
}

// TestFastDeployFailsAtFetch: a ref that cannot be fetched fails the
// deployment at fetch, before any directory or app is touched.
func TestFastDeployFailsAtFetch(t *testing.T) {
	f := newFast(t, nil)
	d, err := f.ctl.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "gone", Actor: "ada"}, nil)
	if err == nil || d.Status != bluegreen.DeploymentFailed || d.Step != bluegreen.StepFetch || len(d.Steps) != 1 || d.Steps[0].OK {
		t.Fatalf("deployment %+v, err %v; want failed at fetch", d, err)
	}
	if calls := f.driver.log(); len(calls) != 0 {
		t.Errorf("driver calls %v; want none", calls)
	}
}

// TestFastDeployRefusals: a deploy into the healthy live color, with a bad
// ref, or while the lock is held is refused before anything runs, and each
// refusal is recorded.
func TestFastDeployRefusals(t *testing.T) {
	f := newFast(t, nil)
	ctx := t.Context()
	_, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Blue, Ref: "v2", Actor: "ada"}, nil)
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || !strings.Contains(err.Error(), "blue is live") {
		t.Errorf("deploy into the live color: %v; want refused", err)
	}
	_, err = f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "-x", Actor: "ada"}, nil)
	if bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("deploy of a bad ref: %v; want invalid", err)
	}
	release, err := f.ctl.Acquire(ctx, "bob", "deploy green ref v9")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"}, nil)
	if bluegreen.ErrorCode(err) != bluegreen.ECONFLICT || !strings.Contains(err.Error(), "locked by bob") {
		t.Errorf("deploy while locked: %v; want conflict naming bob", err)
	}
	release(bluegreen.OutcomeOK)

	want := []string{
		`refused: deploy of "v2" into blue refused: blue is live: deploying over live traffic is what blue-green avoids; deploy to green (inactive), then switch`,
		`refused: deploy of "-x" into green refused: ref "-x": must not start with '-'`,
	}
	got := f.events(bluegreen.ActionDeploy)
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], `refused: deploy of "v2" into green refused: locked by bob since `) {
		t.Errorf("deploy events:\n%s\nwant the three refusals", strings.Join(got, "\n"))
	}
	if calls := f.driver.log(); len(calls) != 0 {
		t.Errorf("driver calls %v; want none", calls)
	}
}

// TestFastReclaimInterruptsARunningDeployment: a deployment left running
// by a controller that is gone becomes interrupted, naming its step, and
// the dead holder's lock is released.
func TestFastReclaimInterruptsARunningDeployment(t *testing.T) {
	f := newFast(t, nil)
	ctx := context.Background()
	st := f.ctl.State()
	d := &bluegreen.Deployment{ID: "d1", Color: bluegreen.Green, Ref: "v2", Actor: "ada"}
	_ = d.Start(st.Since)
	_ = d.Begin(bluegreen.StepBuild(1, 2), "make\nmore")
	g := st.Colors[bluegreen.Green]
	g.Deployment = d
	st.Colors[bluegreen.Green] = g
	st.Lock = &bluegreen.Lock{Owner: "ada", What: "deploy green ref v2", Since: st.Since, Holder: "gone"}
	if _, err := f.store.Commit(ctx, st); err != nil {
		t.Fatal(err)
	}
	loaded, _ := f.store.Load(ctx)
	ctl := controller.New(controller.Options{Store: f.store, Router: f.router, Health: f.health, Instance: "new"}, loaded)
	if err := ctl.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	got := ctl.State()
	gd := got.Colors[bluegreen.Green].Deployment
	if gd.Status != bluegreen.DeploymentInterrupted ||
		gd.Error != "bluegreen serve stopped during build 1/2: make … (the command was killed with it)" || got.Lock != nil {
		t.Errorf("deployment %+v, lock %+v; want interrupted during build 1/2 and the lock free", gd, got.Lock)
	}
	if ev := f.events(bluegreen.ActionDeploy); len(ev) != 1 || ev[0] != "failed: deployment d1 of v2 into green was interrupted at build 1/2: make …" {
		t.Errorf("deploy events %q", ev)
	}
}
