package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Pause stops this controller's operations so that another process can take
// over the same state (serve's hand-over). It waits for the operation in
// progress (a switch or rollback) and holds the next ones back (switch,
// rollback, deploy, reconfigure, the DNS preparation) until resume. Commits
// that do not take part in operations (the lock, health records, verify and
// approve) are not held back: the caller stops what makes them (the API,
// the health checks) before it pauses. It refuses with ECONFLICT, changing
// nothing, while the operation lock is held (a deployment may be running in
// this process, and the next controller would take it for abandoned), an
// automatic promotion is pending (the same), or a post-switch watch runs
// (its automatic rollback must not fall between two processes). Call resume
// once, to let operations run again.
func (c *Controller) Pause() (resume func(), err error) {
	c.op.Lock()
	st := c.State()
	if err := pauseRefusal(st); err != nil {
		c.op.Unlock()
		return nil, err
	}
	return c.op.Unlock, nil
}

// pauseRefusal says why st cannot be handed over now, or nil.
func pauseRefusal(st bluegreen.State) error {
	if st.Lock != nil {
		return fmt.Errorf("cannot hand over now: %w", lockedError(st.Lock))
	}
	for _, col := range bluegreen.Colors {
		if d := st.Colors[col].Deployment; d != nil && d.Promotion == bluegreen.PromotionPending {
			return bluegreen.Errorf(bluegreen.ECONFLICT, "cannot hand over now: deployment %s into %s waits for its automatic promotion", d.ID, col)
		}
	}
	if w := st.Watch; w != nil {
		return bluegreen.Errorf(bluegreen.ECONFLICT, "cannot hand over now: the watch of %s runs until %s; hand over after it",
			w.Color, w.Until.UTC().Format(time.RFC3339))
	}
	return nil
}

// Refresh reloads the committed state from the store, for when another
// process committed to it: a new serve that started for a hand-over, then
// failed; the leader, for a follower sharing the store. It returns the
// state now held, which is never older than the one held before (a read
// that a commit of this controller's overtook is dropped).
func (c *Controller) Refresh(ctx context.Context) (bluegreen.State, error) {
	st, err := c.store.Load(ctx)
	if err != nil {
		return bluegreen.State{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.Revision < c.state.Revision {
		// A commit of this controller's came in between: never go back.
		return c.state.Clone(), nil
	}
	c.state = st
	return st, nil
}
