package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Switch moves public traffic to req.To. It refuses (EREFUSED) a color whose
// health check fails unless req.Force is set, commits the new live color to
// the store, swaps the router, and waits for the old color to drain (up to the
// drain timeout) before returning the figures. A refusal is recorded in the
// history too. If To is already live nothing changes and Changed is false.
//
// If the commit fails the router is not touched and the error is returned.
// Cancelling ctx after the commit does not undo the switch. req.Progress,
// when set, hears when the new color is live and how the drain goes.
func (c *Controller) Switch(ctx context.Context, req bluegreen.SwitchRequest) (bluegreen.SwitchResult, error) {
	if !req.To.Valid() {
		return bluegreen.SwitchResult{}, bluegreen.Errorf(bluegreen.EINVALID, "unknown color %q: want blue or green", req.To)
	}
	return c.move(ctx, req, bluegreen.ActionSwitch)
}

// Rollback moves public traffic back to the previous live color, under the
// same rules as Switch: the previous color must be healthy unless req.Force.
// It fails with EREFUSED when there has been no switch to roll back.
func (c *Controller) Rollback(ctx context.Context, req bluegreen.SwitchRequest) (bluegreen.SwitchResult, error) {
	c.mu.Lock()
	prev := c.state.Previous
	c.mu.Unlock()
	if prev == "" {
		return bluegreen.SwitchResult{}, c.refuse(ctx, bluegreen.ActionRollback, "", req.Actor, "rollback",
			bluegreen.Errorf(bluegreen.EREFUSED, "nothing to roll back: no switch has happened yet"))
	}
	req.To = prev
	return c.move(ctx, req, bluegreen.ActionRollback)
}

// switchOp is one switch or rollback on its way through the phases of
// docs/architecture.md ("A switch"). move drives it: each phase is a method
// that reads what the phases before it found and fills in res. It is used
// by one goroutine (the one that holds the raised priority) and dropped
// when move returns.
type switchOp struct {
	c        *Controller
	req      bluegreen.SwitchRequest
	action   bluegreen.Action
	received time.Time
	res      bluegreen.SwitchResult
	// lower undoes the raised priority (Options.Raise); move calls it
	// once more when it returns.
	lower func()

	// Found by preconditions: the state the switch starts from.
	from, prev bluegreen.Color
	rev        int64
	// Found by gates: the fresh health round of To (herr nil when it
	// passed).
	health bluegreen.Health
	herr   error
	// Found by commitAndSwap.
	msg       string
	committed bluegreen.State
	recorded  bluegreen.Event
	sync      func() error
	drainer   Drainer
	swapped   time.Time
}

// move runs a switch or rollback through its phases, in order:
// preconditions, gates, preSwitchAndDNS, commitAndSwap (the point of no
// return), after, drain. Each phase before the commit may end it, with a
// refusal recorded; nothing has changed then. The operation mutex is held
// from the preconditions to the swap; the phases from the swap on run
// outside it, so that a rollback need not wait for a drain.
func (c *Controller) move(ctx context.Context, req bluegreen.SwitchRequest, action bluegreen.Action) (bluegreen.SwitchResult, error) {
	received := c.now()
	op := &switchOp{c: c, req: req, action: action, received: received,
		res: bluegreen.SwitchResult{To: req.To, ReceivedAt: received.UTC(), Rollback: action == bluegreen.ActionRollback}}
	// The commit and the swap must not be abandoned half way because the
	// caller went away.
	ctx = context.WithoutCancel(ctx)

	c.op.Lock()
	opHeld := true
	defer func() {
		if opHeld {
			c.op.Unlock()
		}
	}()
	// From here to the swap, the switch's own steps (the health round, the
	// commit, the swap) run ahead of the data path and the load on a busy
	// machine (Options.Raise); a hook and a DNS update, which may take
	// seconds or start a process, do not.
	raisedCtx, lower := c.raise(ctx)
	op.lower = lower
	defer func() { op.lower() }()

	if done, err := op.preconditions(ctx); done || err != nil {
		return op.res, err
	}
	if err := op.gates(ctx, raisedCtx); err != nil {
		return op.res, err
	}
	if err := op.preSwitchAndDNS(ctx); err != nil {
		return op.res, err
	}
	if err := op.commitAndSwap(ctx); err != nil {
		return op.res, err
	}
	c.op.Unlock() // the drain runs outside: a rollback must not wait for it
	opHeld = false
	if err := op.after(ctx); err != nil {
		return op.res, err
	}
	op.drain(ctx)
	return op.res, nil
}

// preconditions reads the state the switch starts from and refuses what
// cannot go on: the color the watch judged is no longer live (ExpectFrom),
// the lock is held, a rollback whose target changed meanwhile. done is
// true, with no error, when To is already live: nothing to do.
func (op *switchOp) preconditions(ctx context.Context) (done bool, err error) {
	c, req, action := op.c, op.req, op.action
	c.mu.Lock()
	from, prev, rev, lock := c.state.Live, c.state.Previous, c.state.Revision, c.state.Lock
	c.mu.Unlock()
	op.from, op.prev, op.rev = from, prev, rev
	op.res.From = from
	if req.ExpectFrom != "" && from != req.ExpectFrom {
		// The watch asks to leave the color it judged; someone moved
		// traffic meanwhile: there is nothing left for it to undo.
		return false, bluegreen.Errorf(bluegreen.ECONFLICT, "%s is no longer live (%s is): nothing to roll back", req.ExpectFrom, from)
	}
	if lock != nil {
		// A deploy or sync is running (or was interrupted and not yet
		// reclaimed): traffic must not move under it.
		return false, c.refuse(ctx, action, req.To, req.Actor, verbOf(action)+" to "+string(req.To), lockedError(lock))
	}
	if action == bluegreen.ActionRollback && prev != req.To {
		// A switch landed between reading Previous and taking op.
		return false, c.refuse(ctx, action, req.To, req.Actor, "rollback to "+string(req.To),
			bluegreen.Errorf(bluegreen.ECONFLICT, "the live color changed while the rollback was asked; check status and retry"))
	}
	if from == req.To {
		op.res.Revision = rev
		op.res.Message = fmt.Sprintf("%s is already live; nothing to do", req.To)
		return true, nil
	}
	return false, nil
}

// gates refuses a switch whose target has not met the release gates
// (releaseGates) or fails a fresh health round, unless req.Force: then what
// was forced is kept in res.ForcedGates. The health round runs on
// raisedCtx, the raised priority's context.
func (op *switchOp) gates(ctx, raisedCtx context.Context) error {
	c, req, action := op.c, op.req, op.action
	c.mu.Lock()
	target, prevDeployment := c.state.Colors[req.To], c.state.PreviousDeployment
	c.mu.Unlock()
	unmet := append(c.halfDeployed(target, req.To), c.releaseGates(target, req.To, action, prevDeployment)...)
	if len(unmet) > 0 && !req.Force {
		return op.refuse(ctx, fmt.Sprintf("%s refused: %s (use --force to %s anyway; it is recorded)", action, strings.Join(unmet, "; "), verbOf(action)),
			map[string]any{"from": op.from, "to": req.To, "gates": unmet})
	}
	op.res.ForcedGates = unmet

	// Always a fresh round: a cached "healthy" may be seconds old, and the
	// color may have died since. Not under mu: the round may report a
	// verdict change to RecordHealth, which takes mu.
	checkStart := c.now()
	op.health, op.herr = c.health.Verify(raisedCtx, req.To)
	op.res.CheckMS = bluegreen.Milliseconds(c.now().Sub(checkStart))
	if herr := op.herr; herr != nil {
		if !req.Force {
			msg := fmt.Sprintf("%s refused: %s is unhealthy: %v (use --force to %s anyway)", action, req.To, herr, verbOf(action))
			if req.Automatic {
				msg = fmt.Sprintf("automatic %s refused: %s is unhealthy: %v", action, req.To, herr)
			}
			return op.refuse(ctx, msg, map[string]any{"from": op.from, "to": req.To, "health": op.health})
		}
		op.res.ForcedGates = append(op.res.ForcedGates, fmt.Sprintf("%s is unhealthy: %v", req.To, herr))
	}
	op.res.Forced = len(op.res.ForcedGates) > 0
	return nil
}

// releaseGates returns why traffic may not move to color as cs describes it, one
// sentence per unmet gate; none when it may. A switch needs a passed
// verification (and an approval, when required) of the color's current
// release; a rollback to the very release that served before the last
// switch (previousDeployment) is stopped only by a verification that failed
// since, while a rollback to anything deployed since meets the switch's
// gates. A color that runs no release deployed by bluegreen has only its
// health check as a gate.
func (c *Controller) releaseGates(cs bluegreen.ColorState, color bluegreen.Color, action bluegreen.Action, previousDeployment string) []string {
	if c.deployCfg == nil || cs.Release == nil {
		return nil
	}
	rel := fmt.Sprintf("%s's release %s", color, short12(cs.Release.SHA))
	v := cs.Verification
	current := v != nil && v.Deployment == cs.Release.Deployment
	var out []string
	switch {
	case action == bluegreen.ActionRollback && cs.Release.Deployment == previousDeployment:
		// The release that served before the switch: only a verification
		// that failed since stops the way back.
		if current && !v.Passed {
			out = append(out, fmt.Sprintf("%s failed verification: %s", rel, v.Reason))
		}
		return out
	case !current:
		out = append(out, fmt.Sprintf("%s has not been verified (run `bluegreen verify %s`)", rel, color))
	case !v.Passed:
		out = append(out, fmt.Sprintf("%s failed verification: %s", rel, v.Reason))
	}
	if c.gateCfg.RequireApproval && !cs.Approved() {
		out = append(out, fmt.Sprintf("%s has not been approved (run `bluegreen approve %s` after QA)", rel, color))
	}
	return out
}

// refuse records a refusal of the switch with msg and details, at the
// revision it started from, and returns it (EREFUSED).
func (op *switchOp) refuse(ctx context.Context, msg string, details map[string]any) error {
	ev := op.c.event(op.req, op.action, bluegreen.OutcomeRefused, msg, details)
	ev.Revision = op.rev
	op.c.record(ctx, ev)
	return bluegreen.Errorf(bluegreen.EREFUSED, "%s", msg)
}

// preSwitchAndDNS runs the pre_switch hook (its failure refuses the
// switch) and, in DNS mode, moves the DNS record (switchDNS: a refused or
// failed update is recorded and leaves everything as it was). Both run at
// normal priority: the priority is raised again for the commit.
func (op *switchOp) preSwitchAndDNS(ctx context.Context) error {
	c, req := op.c, op.req
	slow := c.dns != nil || (c.deployCfg != nil && c.deployCfg.PreSwitch != "")
	if slow {
		op.lower() // a hook's process would inherit the raised priority
	}
	if err := c.switchHook(ctx, "pre_switch", op.from, req.To); err != nil {
		return op.refuse(ctx, fmt.Sprintf("%s refused: the pre_switch hook failed: %v", op.action, err),
			map[string]any{"from": op.from, "to": req.To})
	}

	// DNS first: the state records the new color only once the record was
	// changed. A refused or failed update leaves everything as it was.
	dnsRep, err := c.switchDNS(ctx, req, op.action, op.from, op.rev)
	if err != nil {
		return err
	}
	op.res.DNS = dnsRep
	if slow {
		_, op.lower = c.raise(ctx) // again for the commit and the swap
	}
	return nil
}

// verbOf is an action's verb for a sentence: "roll back" for a rollback.
func verbOf(action bluegreen.Action) string {
	if action == bluegreen.ActionRollback {
		return "roll back"
	}
	return string(action)
}

func (c *Controller) event(req bluegreen.SwitchRequest, action bluegreen.Action, outcome bluegreen.Outcome, msg string, details map[string]any) bluegreen.Event {
	if req.Reason != "" {
		details["reason"] = req.Reason
	}
	for k, v := range req.Details {
		details[k] = v
	}
	if c.cluster != nil {
		// Which of the instances sharing the store did it (its leader then).
		details["instance"] = c.instance
	}
	actor := req.Actor
	if actor == "" {
		actor = "unknown"
	}
	return bluegreen.Event{
		Time: c.now(), Actor: actor, Action: action, Color: req.To, Outcome: outcome, Message: msg, Details: details,
	}
}

// switchHook runs the pre_switch or post_switch hook, if configured, with
// BLUEGREEN_COLOR (the new live color) and BLUEGREEN_FROM in its env. Its
// error carries the last lines of output.
func (c *Controller) switchHook(ctx context.Context, name string, from, to bluegreen.Color) error {
	dc := c.deployCfg
	if dc == nil {
		return nil
	}
	cmd := dc.PreSwitch
	if name == "post_switch" {
		cmd = dc.PostSwitch
	}
	if cmd == "" {
		return nil
	}
	env := append(append([]string(nil), dc.Env...), "BLUEGREEN_COLOR="+string(to), "BLUEGREEN_FROM="+string(from),
		"BLUEGREEN_HOOK="+name)
	_, tail, err := dc.Run(ctx, dc.HookDir, cmd, env, nil)
	if err != nil {
		if len(tail) > 5 {
			tail = tail[len(tail)-5:]
		}
		if len(tail) > 0 {
			return fmt.Errorf("%v: %s", err, strings.Join(tail, " | "))
		}
		return err
	}
	return nil
}
