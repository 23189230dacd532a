package controller

// The phases of a switch from the point of no return on: commitAndSwap,
// after and drain (move, in switch.go, runs them in order).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// commitAndSwap is the point of no return: under mu it commits the new
// state (live To, previous from, the watch, the DNS drain) with the switch
// event, then swaps the router and starts the watch. If the commit fails
// nothing changed (a DNS record already moved is moved back) and the error
// is returned. The commit may be visible before it is on disk
// (commitEventEarly): after flushes it.
func (op *switchOp) commitAndSwap(ctx context.Context) error {
	c, req, from := op.c, op.req, op.from
	c.mu.Lock()
	if l := c.state.Lock; l != nil { // cannot happen: locks are taken under op
		c.mu.Unlock()
		return lockedError(l)
	}
	next := op.nextState()
	msg, details := op.describe()
	commitStart := c.now()
	committed, switchEv, sync, err := c.commitEventEarly(ctx, next, c.event(req, op.action, bluegreen.OutcomeOK, msg, details))
	op.res.CommitMS = bluegreen.Milliseconds(c.now().Sub(commitStart))
	if err != nil {
		c.mu.Unlock()
		c.logger.Error("committing switch", "to", req.To, "err", err)
		if op.res.DNS != nil {
			// The record moved but the state could not say so: move it back,
			// so that DNS, the router and the state agree on from.
			if _, applied, derr := c.dns.Switch(ctx, req.To, from); !applied {
				c.logger.Error("moving the DNS record back after a failed commit", "to", from, "err", derr)
				return fmt.Errorf("committing the switch to %s failed (%w) after the DNS record %s moved to it, and moving it back failed too: %v",
					req.To, err, c.dns.Name(), derr)
			}
		}
		if errors.Is(err, bluegreen.ErrOutcomeUnknown) {
			// The store may apply it yet: then every router takes To from
			// the store (with several instances), and the history shows it.
			return fmt.Errorf("committing the switch to %s: the outcome is unknown: %w", req.To, err)
		}
		return fmt.Errorf("committing the switch to %s (nothing changed): %w", req.To, err)
	}
	c.state = committed
	op.drainer = c.router.Swap(req.To)
	op.swapped = c.now()
	op.lower()
	c.cancelWatch() // the watched color is no longer the one going live
	c.mu.Unlock()
	// Outside mu: starting the meter may read other instances' figures
	// from the store, and mu must not wait for that (Live, the color path,
	// the routers' acknowledgements take it). op still serialises it with
	// the next switch.
	if committed.Watch != nil {
		c.startWatch(*committed.Watch)
		w := *committed.Watch
		op.res.Watch = &w
	}

	op.msg, op.committed, op.recorded, op.sync = msg, committed, switchEv, sync
	op.res.Changed = true
	op.res.Revision = committed.Revision
	op.res.SwappedAt = op.swapped.UTC()
	op.res.SwitchMS = bluegreen.Milliseconds(op.swapped.Sub(op.received))
	return nil
}

// nextState is the state the switch commits: To live since the request
// came, from previous (with the deployment it ran), a watch after a switch
// (none after a rollback), the DNS drain after a DNS update. Called with
// mu held.
func (op *switchOp) nextState() bluegreen.State {
	c, from, to := op.c, op.from, op.req.To
	next := c.state.Clone()
	next.Previous, next.Live, next.Since = from, to, op.received.UTC()
	next.PreviousDeployment = ""
	if rel := c.state.Colors[from].Release; rel != nil {
		next.PreviousDeployment = rel.Deployment
	}
	if op.action == bluegreen.ActionSwitch {
		next.Watch = c.newWatch(from, to, op.received)
	} else {
		next.Watch = nil
	}
	if rep := op.res.DNS; rep != nil {
		next.DNSDrain = &bluegreen.DNSDrain{Color: from, Until: rep.DrainUntil}
	}
	return next
}

// describe is the switch event's message and details: what moved, what
// was forced and by whom, why an automatic rollback ran, how DNS moved.
func (op *switchOp) describe() (string, map[string]any) {
	req, res, from := op.req, &op.res, op.from
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
		if op.herr != nil {
			details["health"] = op.health
			details["check"] = op.herr.Error()
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
	if rep := res.DNS; rep != nil {
		msg += "; " + describeDNS(rep)
		details["dns"] = rep
	}
	return msg, details
}

// after reports the switch once its commit is on disk: it flushes the
// commit (a failure is returned: the switch stands, but a power cut may
// undo it), tells req.Progress the new color is live, logs, counts and
// notifies, then runs the post_switch hook (its failure is recorded; the
// switch stands).
func (op *switchOp) after(ctx context.Context) error {
	c, req, res := op.c, op.req, &op.res
	// Nothing is reported (not to the caller, not to a webhook) before the
	// commit is on disk. If it cannot be, the switch stands (the router and
	// the state agree) but a power cut may undo it: say so.
	if err := op.sync(); err != nil {
		c.logger.Error("the switch is live but its commit could not be flushed to disk", "to", req.To, "err", err)
		return fmt.Errorf("%s is live, but flushing the commit to disk failed (a power cut may undo the switch): %w", req.To, err)
	}
	res.SyncMS = bluegreen.Milliseconds(c.now().Sub(op.swapped))
	op.waitRouters(ctx)
	if req.Progress != nil {
		req.Progress(bluegreen.SwitchProgress{Stage: bluegreen.SwitchLive, From: op.from, To: req.To,
			Revision: op.committed.Revision, SwitchMS: res.SwitchMS, InFlight: c.router.Traffic()[op.from].InFlight})
	}
	c.logger.Info(op.msg, "revision", op.committed.Revision, "switch_ms", res.SwitchMS, "actor", req.Actor)
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
	c.notify(op.recorded)

	if err := c.switchHook(ctx, "post_switch", op.from, req.To); err != nil {
		c.logger.Warn("post_switch hook failed; the switch stands", "err", err)
		_ = c.store.Append(ctx, bluegreen.Event{Time: c.now(), Actor: "bluegreen", Action: op.action, Color: req.To,
			Outcome: bluegreen.OutcomeFailed, Revision: op.committed.Revision,
			Message: "post_switch hook failed (the switch stands): " + err.Error()})
	}
	return nil
}

// waitRouters waits, when several instances share the store, until every
// live router serves the committed revision (or the cluster's deadline
// passes) and completes res.Routers; routers that did not take the new
// color are logged and recorded. The switch stands either way: they take
// it when they next reach the store.
func (op *switchOp) waitRouters(ctx context.Context) {
	c, req := op.c, op.req
	if c.cluster == nil {
		return
	}
	start := c.now()
	acks, err := c.cluster.WaitAcks(ctx, op.committed.Revision)
	acks.WaitMS = bluegreen.Milliseconds(c.now().Sub(start))
	op.res.Routers = &acks
	if err == nil && len(acks.Missing) == 0 {
		return
	}
	msg := fmt.Sprintf("router(s) %s did not confirm serving %s (revision %d) within %.0f ms; they serve it once they reach the state store",
		strings.Join(acks.Missing, ", "), req.To, op.committed.Revision, acks.WaitMS)
	if err != nil {
		msg = fmt.Sprintf("could not read which routers serve %s (revision %d): %v", req.To, op.committed.Revision, err)
	}
	c.logger.Warn(msg)
	_ = c.store.Append(ctx, bluegreen.Event{Time: c.now(), Actor: "bluegreen", Action: op.action, Color: req.To,
		Outcome: bluegreen.OutcomeFailed, Revision: op.committed.Revision, Message: msg,
		Details: map[string]any{"acked": acks.Acked, "missing": acks.Missing}})
}

// drain waits for the old color's in-flight requests (cut at the drain
// timeout), telling req.Progress how it goes, records the drain (failed
// when requests were cut) and completes res with the figures.
func (op *switchOp) drain(ctx context.Context) {
	c, req, res, from := op.c, op.req, &op.res, op.from
	stopProgress := c.drainProgress(req, from, op.committed.Revision, res.SwitchMS, op.swapped)
	res.Drain = op.drainer.Wait(ctx, c.drain)
	stopProgress()
	res.Message = fmt.Sprintf("%s; %s drained: %d in flight, %d finished, %d cut at the %s deadline (%.1f ms)",
		op.msg, from, res.Drain.InFlight, res.Drain.Finished, res.Drain.Cancelled,
		c.drain, res.Drain.DurationMS)
	if r := res.Routers; r != nil {
		res.Message += fmt.Sprintf("; %d router(s) serve %s (spread %.1f ms)", len(r.Acked), req.To, r.SpreadMS)
		if len(r.Missing) > 0 {
			res.Message += fmt.Sprintf(", %s did not confirm", strings.Join(r.Missing, ", "))
		}
	}
	ev := bluegreen.Event{
		Time: c.now(), Actor: "bluegreen", Action: bluegreen.ActionDrain, Color: from, Outcome: bluegreen.OutcomeOK,
		Revision: op.committed.Revision,
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
