package controller

import (
	"context"
	"fmt"

	"github.com/bluegreen/bluegreen"
)

// Reconfigure records a reloaded configuration's branches and upstreams in
// the state (the live color is never changed) and returns the colors whose
// upstreams changed, so that the caller can point the router and the health
// checks at them. It runs under the operation mutex: no switch or deploy is
// checking a color while its facts change.
func (c *Controller) Reconfigure(ctx context.Context, colors map[bluegreen.Color]ColorSpec) ([]bluegreen.Color, error) {
	ctx = context.WithoutCancel(ctx)
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.state.Clone()
	events, changed := applySpecs(&next, colors, "bluegreen (reload)", "configuration reloaded", c.now())
	if len(events) == 0 {
		return nil, nil
	}
	committed, err := c.store.Commit(ctx, next, events...)
	if err != nil {
		return nil, fmt.Errorf("recording the reloaded configuration: %w", err)
	}
	c.state = committed
	return changed, nil
}
