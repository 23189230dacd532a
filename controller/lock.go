package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// lockedError is the refusal every operation gets while another holds the
// lock: "locked by <actor> since <time> (<what>)".
func lockedError(l *bluegreen.Lock) error {
	return bluegreen.Errorf(bluegreen.ECONFLICT, "locked by %s since %s (%s)",
		l.Owner, l.Since.UTC().Format("2006-01-02 15:04:05Z"), l.What)
}

// Acquire takes the operation lock for actor, to do what, and returns a
// function that releases it with an outcome recorded in the history. It
// fails at once with ECONFLICT, naming the holder, when the lock is held.
// The lock is committed to the store, so it survives a restart of the
// process that holds it only as long as that process is alive: Reclaim
// releases a lock whose holder is gone.
func (c *Controller) Acquire(ctx context.Context, actor, what string) (release func(outcome bluegreen.Outcome), err error) {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.state.Lock; l != nil {
		return nil, lockedError(l)
	}
	next := c.state.Clone()
	next.Lock = &bluegreen.Lock{Owner: actor, What: what, Since: c.now().UTC(), Holder: c.instance}
	committed, err := c.store.Commit(ctx, next, bluegreen.Event{Time: c.now(), Actor: actor, Action: bluegreen.ActionLock,
		Outcome: bluegreen.OutcomeOK, Message: "lock taken: " + what})
	if err != nil {
		return nil, fmt.Errorf("taking the lock: %w", err)
	}
	c.state = committed
	lock := *committed.Lock
	return func(outcome bluegreen.Outcome) {
		if err := c.releaseLock(ctx, lock, actor, outcome, "lock released: "+lock.What); err != nil {
			c.logger.Error("releasing the lock", "what", lock.What, "err", err)
		}
	}, nil
}

// releaseLock frees the lock if it is still the one described by held.
func (c *Controller) releaseLock(ctx context.Context, held bluegreen.Lock, actor string, outcome bluegreen.Outcome, msg string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Lock == nil || *c.state.Lock != held {
		return nil // already released (e.g. forced)
	}
	next := c.state.Clone()
	next.Lock = nil
	committed, err := c.store.Commit(ctx, next, bluegreen.Event{Time: c.now(), Actor: actor, Action: bluegreen.ActionLock,
		Outcome: outcome, Message: msg, Details: map[string]any{"owner": held.Owner, "what": held.What, "since": held.Since}})
	if err != nil {
		return err
	}
	c.state = committed
	return nil
}

// Lock returns the operation lock, nil when it is free.
func (c *Controller) Lock() *bluegreen.Lock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Lock == nil {
		return nil
	}
	l := *c.state.Lock
	return &l
}

// ReleaseLock frees the lock on a person's request. Without force it only
// frees a lock whose holder is gone (not this controller instance); with
// force it frees any lock, and the history records who forced it. A
// refused release is recorded too.
func (c *Controller) ReleaseLock(ctx context.Context, actor string, force bool) error {
	l := c.Lock()
	if l == nil {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "the lock is free")
	}
	if l.Holder == c.instance && !force {
		return c.refuse(ctx, bluegreen.ActionLock, "", actor, "lock release",
			bluegreen.Errorf(bluegreen.EREFUSED, "%s; it is running now: wait for it, or use --force", lockedError(l).Error()))
	}
	msg := "lock released by hand: " + l.What
	if force {
		msg = "lock released by force: " + l.What
	}
	return c.releaseLock(ctx, *l, actor, bluegreen.OutcomeOK, msg)
}

// Reclaim cleans up after a controller instance that is gone (this process
// restarted, or was killed mid-operation): a deployment it left running is
// marked interrupted and its lock released, and a promotion: auto switch
// it had yet to run is marked interrupted, all recorded. It is called once
// at start, before serving, and with Options.Cluster each time this
// instance becomes the leader. With one controller per state (SQLite) a
// holder other than this instance is necessarily dead; with a cluster only
// the leader takes the lock, and a leader is elected only once its
// predecessor's lease expired.
func (c *Controller) Reclaim(ctx context.Context) error {
	c.mu.Lock()
	next := c.state.Clone()
	var events []bluegreen.Event
	for _, col := range bluegreen.Colors {
		cs := next.Colors[col]
		if d := cs.Deployment; d != nil && d.Status == bluegreen.DeploymentRunning {
			reason := "bluegreen serve stopped " + during(d)
			if d.Command != "" {
				reason += " (the command was killed with it)"
			}
			c.transition(d.Interrupt(reason, c.now()))
			next.Colors[col] = cs
			events = append(events, bluegreen.Event{Time: c.now(), Actor: "bluegreen", Action: bluegreen.ActionDeploy,
				Color: col, Outcome: bluegreen.OutcomeFailed,
				Message: fmt.Sprintf("deployment %s of %s into %s was interrupted %s", d.ID, d.Ref, col, stoppedAt(d)),
				Details: map[string]any{"deployment": d.ID}})
		}
		if d := cs.Deployment; d != nil && d.Promotion == bluegreen.PromotionPending {
			c.transition(d.InterruptPromotion("bluegreen serve stopped before the automatic switch"))
			next.Colors[col] = cs
			events = append(events, bluegreen.Event{Time: c.now(), Actor: "bluegreen", Action: bluegreen.ActionDeploy,
				Color: col, Outcome: bluegreen.OutcomeFailed,
				Message: fmt.Sprintf("the automatic switch after deployment %s into %s did not run: serve stopped first", d.ID, col),
				Details: map[string]any{"deployment": d.ID}})
		}
	}
	if len(events) > 0 {
		committed, err := c.store.Commit(ctx, next, events...)
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("marking interrupted deployments: %w", err)
		}
		c.state = committed
	}
	c.mu.Unlock()

	l := c.Lock()
	if l == nil || l.Holder == c.instance {
		return nil
	}
	msg := fmt.Sprintf("lock of %s (%s, since %s) released: its holder %s is gone; the operation was interrupted",
		l.Owner, l.What, l.Since.UTC().Format("2006-01-02 15:04:05Z"), l.Holder)
	if c.cluster != nil {
		// Only the leader takes the lock, and a new leader is elected
		// only once the old one's lease has expired.
		msg = fmt.Sprintf("lock of %s (%s, since %s) expired with its holder %s: its lease ended (the instance died or lost the state store) and %s leads now; the operation was interrupted",
			l.Owner, l.What, l.Since.UTC().Format("2006-01-02 15:04:05Z"), l.Holder, c.instance)
	}
	return c.releaseLock(ctx, *l, "bluegreen", bluegreen.OutcomeFailed, msg)
}

// transition logs the error of a deployment transition the state machine
// refused (bluegreen.ErrTransition): a bug, since the controller only asks
// for legal ones; the deployment was left as it was.
func (c *Controller) transition(err error) {
	if err != nil {
		c.logger.Error("deployment transition", "err", err)
	}
}

// stoppedAt says where d was cut short, for a message: "at build 2/3:
// python3 manage.py migrate", "at health", or "before its first step".
func stoppedAt(d *bluegreen.Deployment) string {
	if d.Step == "" {
		return "before its first step"
	}
	return "at " + stepName(d)
}

// during is stoppedAt for "serve stopped …".
func during(d *bluegreen.Deployment) string {
	if d.Step == "" {
		return "before this deployment's first step"
	}
	return "during " + stepName(d)
}

// stepName is d's step with its command, shortened to a line.
func stepName(d *bluegreen.Deployment) string {
	if d.Command == "" {
		return string(d.Step)
	}
	return string(d.Step) + ": " + shortCommand(d.Command)
}

// shortCommand is command's first non-empty line, cut at 100 characters.
func shortCommand(command string) string {
	lines := strings.Split(strings.TrimSpace(command), "\n")
	s := strings.TrimSpace(lines[0])
	cut := len(lines) > 1
	if r := []rune(s); len(r) > 100 {
		s, cut = string(r[:100]), true
	}
	if cut {
		s += " …"
	}
	return s
}
