package controller

import (
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Pause stops this controller's operations so that another process can take
// over the same state (serve's hand-over). It waits for the operation in
// progress (a switch or rollback) and then holds every other one back, so
// that the committed state cannot change while the new process starts. It
// refuses with ECONFLICT, changing nothing, while the operation lock is
// held (a deployment may be running in this process, and the next
// controller would take it for abandoned) or while a post-switch watch
// runs (its automatic rollback must not fall between two processes). resume
// lets operations run again; call it once, and only when the hand-over
// failed.
func (c *Controller) Pause() (resume func(), err error) {
	c.op.Lock()
	st := c.State()
	switch {
	case st.Lock != nil:
		c.op.Unlock()
		return nil, fmt.Errorf("cannot hand over now: %w", lockedError(st.Lock))
	case st.Watch != nil:
		c.op.Unlock()
		return nil, bluegreen.Errorf(bluegreen.ECONFLICT, "cannot hand over now: the watch of %s runs until %s; hand over after it",
			st.Watch.Color, st.Watch.Until.UTC().Format(time.RFC3339))
	}
	return c.op.Unlock, nil
}
