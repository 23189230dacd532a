package controller

import (
	"context"

	"github.com/bluegreen/bluegreen"
)

// callerStore stamps the events written on behalf of an API caller with who
// called: the token's name and the CI run link (from the context), so that
// every event an operation causes says who caused it, whatever code path
// records it. Events of background work (the watch, health changes) have
// no caller and are left as they are.
type callerStore struct{ bluegreen.Store }

// Commit stamps the events and, like the store, fills in their IDs and
// revision in the caller's slice (stamped details included).
func (s callerStore) Commit(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	out := stamp(ctx, events)
	st, err := s.Store.Commit(ctx, next, out...)
	if err == nil {
		copy(events, out)
	}
	return st, err
}

// CommitVisible is Commit in two steps (sqlite.Store.CommitVisible) with the
// events stamped: over a store that cannot, it is Commit, with nothing left
// for sync to do.
func (s callerStore) CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, func() error, error) {
	out := stamp(ctx, events)
	var (
		st   bluegreen.State
		sync = noSync
		err  error
	)
	if vc, ok := s.Store.(visibleCommitter); ok {
		st, sync, err = vc.CommitVisible(ctx, next, out...)
	} else {
		st, err = s.Store.Commit(ctx, next, out...)
	}
	if err == nil {
		copy(events, out)
	}
	return st, sync, err
}

func noSync() error { return nil }

// Append is Commit's counterpart for events that change no state.
func (s callerStore) Append(ctx context.Context, events ...bluegreen.Event) error {
	out := stamp(ctx, events)
	err := s.Store.Append(ctx, out...)
	if err == nil {
		copy(events, out)
	}
	return err
}

// commitEvent commits next with ev and returns the event as recorded (its
// ID, revision and the caller's stamp), for notifications.
func (c *Controller) commitEvent(ctx context.Context, next bluegreen.State, ev bluegreen.Event) (bluegreen.State, bluegreen.Event, error) {
	evs := []bluegreen.Event{ev}
	st, err := c.store.Commit(ctx, next, evs...)
	if err == nil {
		evs[0].Revision = st.Revision
	}
	return st, evs[0], err
}

// visibleCommitter is a store that can make a commit visible, and safe from
// the process being killed, before it is on disk (sqlite.Store).
type visibleCommitter interface {
	CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, func() error, error)
}

// commitEventEarly is commitEvent for a switch, which flips the router on
// the commit: with a store that can, it returns as soon as the commit is
// visible and safe from a kill, and sync waits until it is on disk. The
// caller must see sync return nil before it reports the switch as done.
// sync is never nil when err is nil.
func (c *Controller) commitEventEarly(ctx context.Context, next bluegreen.State, ev bluegreen.Event) (bluegreen.State, bluegreen.Event, func() error, error) {
	vc, ok := c.store.(visibleCommitter)
	if !ok {
		st, ev, err := c.commitEvent(ctx, next, ev)
		return st, ev, noSync, err
	}
	evs := []bluegreen.Event{ev}
	st, sync, err := vc.CommitVisible(ctx, next, evs...)
	if err == nil {
		evs[0].Revision = st.Revision
	}
	return st, evs[0], sync, err
}

// record appends ev, logs a failure, and tells Notify about the event as
// recorded; a refusal that only repeats one recorded moments ago is
// counted (refusalLog) and nobody is told again. It must be called without
// mu held.
func (c *Controller) record(ctx context.Context, ev bluegreen.Event) {
	evs := []bluegreen.Event{ev}
	if err := c.store.Append(ctx, evs...); err != nil {
		c.logger.Error("recording an event", "action", ev.Action, "err", err)
	} else if evs[0].Outcome == bluegreen.OutcomeRefused && evs[0].ID == 0 {
		return
	}
	c.notify(evs[0])
}

func stamp(ctx context.Context, events []bluegreen.Event) []bluegreen.Event {
	c, ok := bluegreen.CallerFrom(ctx)
	if !ok {
		return events
	}
	out := make([]bluegreen.Event, len(events))
	for i, ev := range events {
		d := make(map[string]any, len(ev.Details)+2)
		for k, v := range ev.Details {
			d[k] = v
		}
		if _, set := d["token"]; !set && c.Token != "" {
			d["token"] = c.Token
		}
		if _, set := d["run_url"]; !set && c.RunURL != "" {
			d["run_url"] = c.RunURL
		}
		ev.Details = d
		out[i] = ev
	}
	return out
}
