package controller

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/bluegreen/bluegreen"
)

// deployRun carries one deployment through its steps.
type deployRun struct {
	c        *Controller
	dc       *DeployConfig
	d        *bluegreen.Deployment
	progress func(bluegreen.Progress)
	start    time.Time
	started  bool // the new app was started (and must be stopped on failure)
	release  func(outcome bluegreen.Outcome)
	// bootstrap is the first deploy into a live color that ran nothing.
	bootstrap bool
	// reason is the caller's --reason, recorded with every event.
	reason string
	// liveBroken says which of the live color's checks the build steps
	// broke (the migration gate); nil when none.
	liveBroken []bluegreen.CheckResult
}

// finish runs the deployment and releases the lock.
func (r *deployRun) finish(ctx context.Context) error {
	err := r.run(ctx)
	outcome := bluegreen.OutcomeOK
	if err != nil {
		outcome = bluegreen.OutcomeFailed
	}
	r.c.count(func(k *Counters) {
		if err != nil {
			k.DeploymentsFailed++
		} else {
			k.DeploymentsOK++
		}
	})
	r.release(outcome)
	if err == nil && r.c.gateCfg.AutoPromote && !r.bootstrap {
		err = r.promote(ctx)
	}
	return err
}

// promote switches traffic to the freshly deployed and verified color
// (promotion: auto). It runs after the lock is released: the switch takes
// its own turn and checks every gate again.
func (r *deployRun) promote(ctx context.Context) error {
	r.say(bluegreen.StepSwitch, fmt.Sprintf("promotion: auto: switching traffic to %s", r.d.Color))
	res, err := r.c.Switch(ctx, bluegreen.SwitchRequest{To: r.d.Color, Actor: r.d.Actor,
		Reason: "promotion: auto after deployment " + r.d.ID})
	r.c.transition(r.d.Promote(err))
	if err != nil {
		r.say(bluegreen.StepSwitch, "not switched: "+err.Error())
		err = bluegreen.Errorf(bluegreen.EREFUSED, "deployed and verified %s into %s, but the automatic switch failed: %v",
			r.d.Ref, r.d.Color, err)
	} else {
		r.say(bluegreen.StepSwitch, res.Message)
	}
	r.savePromotion(ctx)
	return err
}

// savePromotion stores how the promotion ended in the deployment's record,
// which a detached deploy's follower reads.
func (r *deployRun) savePromotion(ctx context.Context) {
	r.saveRecord(ctx, "recording the promotion in the deployment")
}

// begin records that step name starts (running command, "" when it runs
// none): a serve killed during it leaves the step in the state, where
// Reclaim finds it to say where the deployment was interrupted.
func (r *deployRun) begin(ctx context.Context, name bluegreen.DeployStep, command string) {
	r.c.transition(r.d.Begin(name, command))
	r.saveRecord(ctx, "recording the step that begins")
}

// saveRecord stores the deployment's record in its color's state, without
// an event; an error is logged (as what) and changes nothing else.
func (r *deployRun) saveRecord(ctx context.Context, what string) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.state.Colors[r.d.Color]
	if cs.Deployment == nil || cs.Deployment.ID != r.d.ID {
		return // a newer deployment replaced it
	}
	next := c.state.Clone()
	d := r.d.Clone()
	cs.Deployment = &d
	next.Colors[r.d.Color] = cs
	if committed, err := c.store.Commit(ctx, next); err == nil {
		c.state = committed
	} else {
		c.logger.Error(what, "step", r.d.Step, "err", err)
	}
}

func (r *deployRun) say(step bluegreen.DeployStep, line string) {
	p := bluegreen.Progress{Step: step, Line: line, ElapsedMS: bluegreen.Milliseconds(r.c.now().Sub(r.start))}
	r.c.logs.add(r.d.ID, p)
	if r.progress != nil {
		r.progress(p)
	}
}

// save stores the deployment in the color's state with an event, and tells
// Notify about a deployment that ended.
func (r *deployRun) save(ctx context.Context, ev bluegreen.Event, release *bluegreen.Release) error {
	recorded, err := r.commit(ctx, ev, release)
	if err == nil && r.d.Status != bluegreen.DeploymentRunning {
		r.c.notify(recorded)
	}
	return err
}

func (r *deployRun) commit(ctx context.Context, ev bluegreen.Event, release *bluegreen.Release) (bluegreen.Event, error) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.state.Clone()
	cs := next.Colors[r.d.Color]
	d := r.d.Clone()
	cs.Deployment = &d
	if release != nil {
		cs.Release = release
	}
	next.Colors[r.d.Color] = cs
	ev.Time, ev.Actor, ev.Action, ev.Color = c.now(), r.d.Actor, bluegreen.ActionDeploy, r.d.Color
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	ev.Details["deployment"] = r.d.ID
	if r.d.Status != bluegreen.DeploymentRunning {
		ev.Details["record"] = d
	}
	ev.Details["ref"] = r.d.Ref
	if r.reason != "" {
		ev.Details["reason"] = r.reason
	}
	if r.d.SHA != "" {
		ev.Details["sha"] = r.d.SHA
	}
	committed, recorded, err := c.commitEvent(ctx, next, ev)
	if err != nil {
		return bluegreen.Event{}, fmt.Errorf("recording the deployment: %w", err)
	}
	c.state = committed
	return recorded, nil
}

func (r *deployRun) env(sha string) []string {
	ports := r.dc.Ports[r.d.Color]
	env := append([]string(nil), r.dc.Env...)
	env = append(env, "BLUEGREEN_COLOR="+string(r.d.Color), "BLUEGREEN_REF="+r.d.Ref, "BLUEGREEN_SHA="+sha,
		"BLUEGREEN_DEPLOYMENT="+r.d.ID)
	if len(ports) > 0 {
		env = append(env, "PORT="+strconv.Itoa(ports[0]))
	}
	return env
}

// fail marks the deployment failed at step and cleans up.
func (r *deployRun) fail(ctx context.Context, step bluegreen.DeployStep, err error, tail []string) error {
	r.c.transition(r.d.Fail(step, err, tail, r.c.now()))
	r.say(step, "failed: "+err.Error())
	if r.started {
		r.say(bluegreen.StepStop, "stopping the failed release")
		if serr := r.dc.Driver.Stop(ctx, r.d.Color); serr != nil {
			r.say(bluegreen.StepStop, "stopping failed: "+serr.Error())
		}
	}
	msg := fmt.Sprintf("deploy of %s into %s failed at %s: %v", r.d.Ref, r.d.Color, step, err)
	if serr := r.save(ctx, bluegreen.Event{Outcome: bluegreen.OutcomeFailed, Message: msg,
		Details: map[string]any{"step": step, "output": tail}}, nil); serr != nil {
		r.c.logger.Error("recording a failed deployment", "err", serr)
	}
	return bluegreen.Errorf(bluegreen.EREFUSED, "%s", msg)
}

// step records that step name (running command, if any) begins, runs it
// timed, and records its result.
func (r *deployRun) step(ctx context.Context, name bluegreen.DeployStep, command string, fn func() (int, error)) (int, error) {
	r.begin(ctx, name, command)
	t := r.c.now()
	code, err := fn()
	r.d.Steps = append(r.d.Steps, bluegreen.StepResult{Name: name, ExitCode: code,
		DurationMS: bluegreen.Milliseconds(r.c.now().Sub(t)), OK: err == nil})
	return code, err
}

func (r *deployRun) run(ctx context.Context) error {
	d, dc, c := r.d, r.dc, r.c
	if err := r.save(ctx, bluegreen.Event{Outcome: bluegreen.OutcomeOK,
		Message: fmt.Sprintf("deploy of %s into %s started", d.Ref, d.Color)}, nil); err != nil {
		return err
	}
	r.say(bluegreen.StepStart, fmt.Sprintf("deploying %s into %s (deployment %s)", d.Ref, d.Color, d.ID))

	var commit Commit
	if _, err := r.step(ctx, bluegreen.StepFetch, "", func() (int, error) {
		var err error
		commit, err = dc.Source.Fetch(ctx, d.Ref)
		return 0, err
	}); err != nil {
		return r.fail(ctx, bluegreen.StepFetch, err, nil)
	}
	d.SHA = commit.SHA
	r.say(bluegreen.StepFetch, fmt.Sprintf("%s is %s: %s (%s)", d.Ref, short12(commit.SHA), commit.Subject, commit.Author))

	var dir string
	var err error
	if hosts := dc.hostsOf(d.Color); len(hosts) > 0 {
		err = r.rollout(ctx, commit, hosts)
	} else {
		dir, err = r.local(ctx, commit)
	}
	if err != nil {
		return err
	}

	rel := &bluegreen.Release{SHA: commit.SHA, Ref: d.Ref, Subject: commit.Subject, Author: commit.Author,
		DeployedBy: d.Actor, DeployedAt: c.now().UTC(), Deployment: d.ID, Dir: dir}
	if g := c.gateCfg; g.VerifyOnDeploy || g.AutoPromote || r.liveBroken != nil {
		if err := r.verify(ctx, rel); err != nil {
			return err
		}
	}
	// With promotion: auto, promote (after the lock) says how it ended.
	c.transition(d.Succeed(c.now(), c.gateCfg.AutoPromote && !r.bootstrap))
	rel.DeployedAt = d.Ended
	msg := fmt.Sprintf("deployed %s (%s) into %s in %s", d.Ref, short12(commit.SHA), d.Color, d.Ended.Sub(d.Started).Round(time.Millisecond))
	if err := r.save(ctx, bluegreen.Event{Outcome: bluegreen.OutcomeOK, Message: msg,
		Details: map[string]any{"subject": commit.Subject, "author": commit.Author, "steps": d.Steps}}, rel); err != nil {
		return err
	}
	if dc.Prune != nil && dir != "" {
		dc.Prune(d.Color, dc.KeepReleases, dir)
	}
	r.say(bluegreen.StepDone, msg)
	return nil
}

// local deploys commit on this machine: checkout into a new release
// directory, the pre_deploy hook and build steps (with the migration gate
// around them), stop, start, health, post_deploy. It returns the release
// directory, or the error of fail.
func (r *deployRun) local(ctx context.Context, commit Commit) (string, error) {
	d, dc, c := r.d, r.dc, r.c
	dir, err := dc.ReleaseDir(d.Color, c.now(), commit.SHA)
	if err != nil {
		return "", r.fail(ctx, bluegreen.StepCheckout, err, nil)
	}
	if _, err := r.step(ctx, bluegreen.StepCheckout, "", func() (int, error) { return 0, dc.Source.Checkout(ctx, commit.SHA, dir) }); err != nil {
		return "", r.fail(ctx, bluegreen.StepCheckout, err, nil)
	}
	r.say(bluegreen.StepCheckout, dir)
	env := r.env(commit.SHA)

	hooks := []struct {
		name bluegreen.DeployStep
		cmd  string
	}{{bluegreen.StepPreDeploy, dc.PreDeploy}}
	for i, b := range dc.Build {
		hooks = append(hooks, struct {
			name bluegreen.DeployStep
			cmd  string
		}{bluegreen.StepBuild(i+1, len(dc.Build)), b})
	}
	baseline := r.liveBaseline(ctx, len(dc.Build) > 0)
	for _, h := range hooks {
		if h.cmd == "" {
			continue
		}
		r.say(h.name, "$ "+h.cmd)
		var tail []string
		if _, err := r.step(ctx, h.name, h.cmd, func() (int, error) {
			code, t, err := dc.Run(ctx, dir, h.cmd, env, func(line string) { r.say(h.name, line) })
			tail = t
			return code, err
		}); err != nil {
			return "", r.fail(ctx, h.name, err, tail)
		}
	}

	if baseline != nil {
		r.liveAfterBuild(ctx, baseline)
	}

	if _, err := r.step(ctx, bluegreen.StepStop, "", func() (int, error) { return 0, dc.Driver.Stop(ctx, d.Color) }); err != nil {
		return "", r.fail(ctx, bluegreen.StepStop, err, nil)
	}
	r.say(bluegreen.StepStop, "the previous release of "+string(d.Color)+" is stopped")
	r.started = true
	if _, err := r.step(ctx, bluegreen.StepStart, "", func() (int, error) { return 0, dc.Driver.Start(ctx, d.Color, d.ID, dir, env) }); err != nil {
		return "", r.fail(ctx, bluegreen.StepStart, err, nil)
	}
	r.say(bluegreen.StepStart, "started; waiting for the health check (up to "+dc.StartTimeout.String()+")")

	if _, err := r.step(ctx, bluegreen.StepHealth, "", func() (int, error) { return 0, r.waitHealthy(ctx) }); err != nil {
		return "", r.fail(ctx, bluegreen.StepHealth, err, nil)
	}
	r.say(bluegreen.StepHealth, string(d.Color)+" is healthy")

	if dc.PostDeploy != "" {
		r.say(bluegreen.StepPostDeploy, "$ "+dc.PostDeploy)
		r.begin(ctx, bluegreen.StepPostDeploy, dc.PostDeploy)
		if _, t, err := dc.Run(ctx, dir, dc.PostDeploy, env, func(line string) { r.say(bluegreen.StepPostDeploy, line) }); err != nil {
			// The release is up; a failing post hook is reported, not fatal.
			r.say(bluegreen.StepPostDeploy, fmt.Sprintf("failed (the release stays): %v %v", err, t))
		}
	}

	return dir, nil
}

// waitHealthy checks the color until a round passes or StartTimeout ends.
func (r *deployRun) waitHealthy(ctx context.Context) error {
	deadline := r.c.now().Add(r.dc.StartTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := r.c.health.Verify(ctx, r.d.Color)
		if err == nil {
			return nil
		}
		if r.c.now().After(deadline) {
			return fmt.Errorf("not healthy within %s: %v", r.dc.StartTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func short12(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
