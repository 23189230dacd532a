package controller

import (
	"context"
	"fmt"
	"slices"

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
	var (
		events  []bluegreen.Event
		changed []bluegreen.Color
	)
	for _, col := range bluegreen.Colors {
		spec, ok := colors[col]
		if !ok {
			continue
		}
		cs := next.Colors[col]
		if cs.Branch == spec.Branch && slices.Equal(cs.Upstreams, spec.Upstreams) {
			continue
		}
		events = append(events, bluegreen.Event{Time: c.now(), Actor: "bluegreen (reload)", Action: bluegreen.ActionConfig,
			Color: col, Outcome: bluegreen.OutcomeOK,
			Message: fmt.Sprintf("%s configuration reloaded: branch %q → %q, upstreams %v → %v",
				col, cs.Branch, spec.Branch, cs.Upstreams, spec.Upstreams)})
		if !slices.Equal(cs.Upstreams, spec.Upstreams) {
			changed = append(changed, col)
		}
		cs.Branch, cs.Upstreams = spec.Branch, slices.Clone(spec.Upstreams)
		next.Colors[col] = cs
	}
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
