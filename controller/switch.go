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

func (c *Controller) move(ctx context.Context, req bluegreen.SwitchRequest, action bluegreen.Action) (bluegreen.SwitchResult, error) {
	received := c.now()
	res := bluegreen.SwitchResult{To: req.To, ReceivedAt: received.UTC(), Rollback: action == bluegreen.ActionRollback}
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
	defer func() { lower() }()
	c.mu.Lock()
	from, prev, rev, lock := c.state.Live, c.state.Previous, c.state.Revision, c.state.Lock
	c.mu.Unlock()
	res.From = from
	if req.ExpectFrom != "" && from != req.ExpectFrom {
		// The watch asks to leave the color it judged; someone moved
		// traffic meanwhile: there is nothing left for it to undo.
		return res, bluegreen.Errorf(bluegreen.ECONFLICT, "%s is no longer live (%s is): nothing to roll back", req.ExpectFrom, from)
	}
	if lock != nil {
		// A deploy or sync is running (or was interrupted and not yet
		// reclaimed): traffic must not move under it.
		return res, c.refuse(ctx, action, req.To, req.Actor, verbOf(action)+" to "+string(req.To), lockedError(lock))
	}
	if action == bluegreen.ActionRollback && prev != req.To {
		// A switch landed between reading Previous and taking op.
		return res, c.refuse(ctx, action, req.To, req.Actor, "rollback to "+string(req.To),
			bluegreen.Errorf(bluegreen.ECONFLICT, "the live color changed while the rollback was asked; check status and retry"))
	}
	if from == req.To {
		res.Revision = rev
		res.Message = fmt.Sprintf("%s is already live; nothing to do", req.To)
		return res, nil
	}

	// The release gates: verified (and approved) before a switch; a
	// rollback only refused by a verification that failed since.
	c.mu.Lock()
	target := c.state.Colors[req.To]
	c.mu.Unlock()
	c.mu.Lock()
	prevDeployment := c.state.PreviousDeployment
	c.mu.Unlock()
	unmet := c.gates(target, req.To, action, prevDeployment)
	if len(unmet) > 0 && !req.Force {
		msg := fmt.Sprintf("%s refused: %s (use --force to %s anyway; it is recorded)", action, strings.Join(unmet, "; "), verbOf(action))
		ev := c.event(req, action, bluegreen.OutcomeRefused, msg, map[string]any{"from": from, "to": req.To, "gates": unmet})
		ev.Revision = rev
		c.record(ctx, ev)
		return res, bluegreen.Errorf(bluegreen.EREFUSED, "%s", msg)
	}
	res.ForcedGates = unmet

	// Always a fresh round: a cached "healthy" may be seconds old, and the
	// color may have died since. Not under mu: the round may report a
	// verdict change to RecordHealth, which takes mu.
	checkStart := c.now()
	h, herr := c.health.Verify(raisedCtx, req.To)
	res.CheckMS = bluegreen.Milliseconds(c.now().Sub(checkStart))
	if herr != nil {
		if !req.Force {
			msg := fmt.Sprintf("%s refused: %s is unhealthy: %v (use --force to %s anyway)", action, req.To, herr, verbOf(action))
			if req.Automatic {
				msg = fmt.Sprintf("automatic %s refused: %s is unhealthy: %v", action, req.To, herr)
			}
			ev := c.event(req, action, bluegreen.OutcomeRefused, msg, map[string]any{"from": from, "to": req.To, "health": h})
			ev.Revision = rev
			c.record(ctx, ev)
			return res, bluegreen.Errorf(bluegreen.EREFUSED, "%s", msg)
		}
		res.ForcedGates = append(res.ForcedGates, fmt.Sprintf("%s is unhealthy: %v", req.To, herr))
	}
	res.Forced = len(res.ForcedGates) > 0

	slow := c.dns != nil || (c.deployCfg != nil && c.deployCfg.PreSwitch != "")
	if slow {
		lower() // a hook's process would inherit the raised priority
	}
	if err := c.switchHook(ctx, "pre_switch", from, req.To); err != nil {
		msg := fmt.Sprintf("%s refused: the pre_switch hook failed: %v", action, err)
		ev := c.event(req, action, bluegreen.OutcomeRefused, msg, map[string]any{"from": from, "to": req.To})
		ev.Revision = rev
		c.record(ctx, ev)
		return res, bluegreen.Errorf(bluegreen.EREFUSED, "%s", msg)
	}

	// DNS first: the state records the new color only once the record was
	// changed. A refused or failed update leaves everything as it was.
	dnsRep, err := c.switchDNS(ctx, req, action, from, rev)
	if err != nil {
		return res, err
	}
	res.DNS = dnsRep
	if slow {
		_, lower = c.raise(ctx) // again for the commit and the swap
	}

	c.mu.Lock()
	if l := c.state.Lock; l != nil { // cannot happen: locks are taken under op
		c.mu.Unlock()
		return res, lockedError(l)
	}
	next := c.state.Clone()
	next.Previous, next.Live, next.Since = from, req.To, received.UTC()
	next.PreviousDeployment = ""
	if rel := c.state.Colors[from].Release; rel != nil {
		next.PreviousDeployment = rel.Deployment
	}
	verb := "switched"
	if res.Rollback {
		verb = "rolled back"
	}
	msg := fmt.Sprintf("%s traffic from %s to %s", verb, from, req.To)
	details := map[string]any{"from": from, "to": req.To}
	if res.Forced {
		msg += fmt.Sprintf(" (forced by %s: %s)", actorOr(req.Actor), strings.Join(res.ForcedGates, "; "))
		details["forced"] = true
		details["forced_gates"] = res.ForcedGates
		if herr != nil {
			details["health"] = h
			details["check"] = herr.Error()
		}
	}
	if req.Force && !res.Forced {
		// Recorded too: who reaches for --force matters to an audit, even
		// when every check passed.
		msg += fmt.Sprintf(" (--force given by %s; nothing needed forcing)", actorOr(req.Actor))
		details["force_requested"] = true
	}
	if req.Automatic {
		msg = "automatically " + msg + ": " + strings.TrimPrefix(req.Reason, "automatic rollback: ")
	}
	if action == bluegreen.ActionSwitch {
		next.Watch = c.newWatch(from, req.To, received)
	} else {
		next.Watch = nil
	}
	if dnsRep != nil {
		msg += "; " + describeDNS(dnsRep)
		details["dns"] = dnsRep
		next.DNSDrain = &bluegreen.DNSDrain{Color: from, Until: dnsRep.DrainUntil}
	}
	commitStart := c.now()
	committed, switchEv, sync, err := c.commitEventEarly(ctx, next, c.event(req, action, bluegreen.OutcomeOK, msg, details))
	res.CommitMS = bluegreen.Milliseconds(c.now().Sub(commitStart))
	if err != nil {
		c.mu.Unlock()
		c.logger.Error("committing switch", "to", req.To, "err", err)
		if dnsRep != nil {
			// The record moved but the state could not say so: move it back,
			// so that DNS, the router and the state agree on from.
			if _, applied, derr := c.dns.Switch(ctx, req.To, from); !applied {
				c.logger.Error("moving the DNS record back after a failed commit", "to", from, "err", derr)
				return res, fmt.Errorf("committing the switch to %s failed (%w) after the DNS record %s moved to it, and moving it back failed too: %v",
					req.To, err, c.dns.Name(), derr)
			}
		}
		return res, fmt.Errorf("committing the switch to %s (nothing changed): %w", req.To, err)
	}
	c.state = committed
	drain := c.router.Swap(req.To)
	swapped := c.now()
	lower()
	c.cancelWatch() // the watched color is no longer the one going live
	if committed.Watch != nil {
		c.startWatch(*committed.Watch)
		w := *committed.Watch
		res.Watch = &w
	}
	c.mu.Unlock()
	c.op.Unlock() // the drain runs outside: a rollback must not wait for it
	opHeld = false

	res.Changed = true
	res.Revision = committed.Revision
	res.SwappedAt = swapped.UTC()
	res.SwitchMS = bluegreen.Milliseconds(swapped.Sub(received))
	// Nothing is reported (not to the caller, not to a webhook) before the
	// commit is on disk. If it cannot be, the switch stands (the router and
	// the state agree) but a power cut may undo it: say so.
	if err := sync(); err != nil {
		c.logger.Error("the switch is live but its commit could not be flushed to disk", "to", req.To, "err", err)
		return res, fmt.Errorf("%s is live, but flushing the commit to disk failed (a power cut may undo the switch): %w", req.To, err)
	}
	res.SyncMS = bluegreen.Milliseconds(c.now().Sub(swapped))
	if req.Progress != nil {
		req.Progress(bluegreen.SwitchProgress{Stage: bluegreen.SwitchLive, From: from, To: req.To,
			Revision: committed.Revision, SwitchMS: res.SwitchMS, InFlight: c.router.Traffic()[from].InFlight})
	}
	c.logger.Info(msg, "revision", committed.Revision, "switch_ms", res.SwitchMS, "actor", req.Actor)
	c.count(func(k *Counters) {
		switch {
		case req.Automatic:
			k.RollbacksAutomatic++
		case res.Rollback:
			k.RollbacksManual++
		default:
			k.Switches++
		}
	})
	c.notify(switchEv)

	if err := c.switchHook(ctx, "post_switch", from, req.To); err != nil {
		c.logger.Warn("post_switch hook failed; the switch stands", "err", err)
		_ = c.store.Append(ctx, bluegreen.Event{Time: c.now(), Actor: "bluegreen", Action: action, Color: req.To,
			Outcome: bluegreen.OutcomeFailed, Revision: committed.Revision,
			Message: "post_switch hook failed (the switch stands): " + err.Error()})
	}

	stopProgress := c.drainProgress(req, from, committed.Revision, res.SwitchMS, swapped)
	res.Drain = drain.Wait(ctx, c.drain)
	stopProgress()
	res.Message = fmt.Sprintf("%s; %s drained: %d in flight, %d finished, %d cut at the %s deadline (%.1f ms)",
		msg, from, res.Drain.InFlight, res.Drain.Finished, res.Drain.Cancelled,
		c.drain, res.Drain.DurationMS)
	ev := bluegreen.Event{
		Time: c.now(), Actor: "bluegreen", Action: bluegreen.ActionDrain, Color: from, Outcome: bluegreen.OutcomeOK,
		Revision: committed.Revision,
		Message: fmt.Sprintf("%s drained: %d in flight, %d finished, %d cut", from,
			res.Drain.InFlight, res.Drain.Finished, res.Drain.Cancelled),
		Details: map[string]any{"in_flight": res.Drain.InFlight, "finished": res.Drain.Finished,
			"cancelled": res.Drain.Cancelled, "duration_ms": res.Drain.DurationMS, "switch_ms": res.SwitchMS},
	}
	if res.Drain.Cancelled > 0 {
		ev.Outcome = bluegreen.OutcomeFailed
	}
	if err := c.store.Append(ctx, ev); err != nil {
		c.logger.Error("recording drain", "err", err)
	}
	return res, nil
}

// drainTick is how often a switch's Progress hears about the drain.
const drainTick = 500 * time.Millisecond

// drainProgress tells req.Progress, every drainTick until stop is called,
// how many requests from still has in flight. stop returns once the last
// report has been made: Progress is never called after it.
func (c *Controller) drainProgress(req bluegreen.SwitchRequest, from bluegreen.Color, rev int64, switchMS float64, swapped time.Time) (stop func()) {
	if req.Progress == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(drainTick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			n := c.router.Traffic()[from].InFlight
			if n == 0 {
				continue
			}
			req.Progress(bluegreen.SwitchProgress{Stage: bluegreen.SwitchDraining, From: from, To: req.To, Revision: rev,
				SwitchMS: switchMS, InFlight: n, DrainMS: bluegreen.Milliseconds(c.now().Sub(swapped))})
		}
	}()
	return func() {
		close(done)
		<-exited
	}
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
