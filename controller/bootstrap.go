package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bluegreen/bluegreen"
)

// ColorSpec is what the configuration says about a color.
type ColorSpec struct {
	Branch    string
	Upstreams []string
}

// Bootstrap returns the committed state, creating it on a fresh store with
// initialLive as the live color. When the configuration's branch or upstreams
// of a color differ from the stored ones, the stored ones are updated and the
// change recorded. The live color is never changed here: it is the store's.
// Several instances starting together on one store (etcd) may race: a
// commit that lost the race is tried again on the state that won.
func Bootstrap(ctx context.Context, store bluegreen.Store, initialLive bluegreen.Color, colors map[bluegreen.Color]ColorSpec, now time.Time) (bluegreen.State, error) {
	return bootstrapTries(ctx, store, initialLive, colors, now, true)
}

// Create returns the committed state, creating it on a fresh store as
// Bootstrap does, but never changes a stored state's colors: with several
// instances sharing the store, the one that leads records its colors as it
// takes over (Reconfigure), and the others' configurations do not
// overwrite them.
func Create(ctx context.Context, store bluegreen.Store, initialLive bluegreen.Color, colors map[bluegreen.Color]ColorSpec, now time.Time) (bluegreen.State, error) {
	return bootstrapTries(ctx, store, initialLive, colors, now, false)
}

// bootstrapTries runs bootstrap until it does not lose a race.
func bootstrapTries(ctx context.Context, store bluegreen.Store, initialLive bluegreen.Color, colors map[bluegreen.Color]ColorSpec, now time.Time, apply bool) (bluegreen.State, error) {
	const tries = 5
	for i := 1; ; i++ {
		st, err := bootstrap(ctx, store, initialLive, colors, now, apply)
		if !errors.Is(err, bluegreen.ErrConflict) || i == tries {
			return st, err
		}
	}
}

// bootstrap is one try of Bootstrap (apply) or Create.
func bootstrap(ctx context.Context, store bluegreen.Store, initialLive bluegreen.Color, colors map[bluegreen.Color]ColorSpec, now time.Time, apply bool) (bluegreen.State, error) {
	st, err := store.Load(ctx)
	if err != nil {
		return st, fmt.Errorf("loading state: %w", err)
	}
	if st.Revision == 0 {
		st = bluegreen.State{Live: initialLive, Since: now.UTC(), Colors: map[bluegreen.Color]bluegreen.ColorState{}}
		for _, c := range bluegreen.Colors {
			spec := colors[c]
			st.Colors[c] = bluegreen.ColorState{
				Branch: spec.Branch, Upstreams: slices.Clone(spec.Upstreams),
				Health: bluegreen.Health{Status: bluegreen.HealthUnknown},
			}
		}
		ev := bluegreen.Event{Time: now, Actor: "bluegreen", Action: bluegreen.ActionInit, Color: initialLive,
			Outcome: bluegreen.OutcomeOK, Message: fmt.Sprintf("state created; %s is live", initialLive)}
		return store.Commit(ctx, st, ev)
	}

	if !apply {
		return st, nil
	}
	next := st.Clone()
	events, _ := applySpecs(&next, colors, "bluegreen", "configuration changed", now)
	if len(events) == 0 {
		return st, nil
	}
	return store.Commit(ctx, next, events...)
}

// applySpecs writes each color's configured branch and upstreams into st
// and returns one config event per changed color (by actor, "<color> <what>:
// branch … → …, upstreams … → …") and the colors whose upstreams changed.
func applySpecs(st *bluegreen.State, colors map[bluegreen.Color]ColorSpec, actor, what string, now time.Time) ([]bluegreen.Event, []bluegreen.Color) {
	var (
		events  []bluegreen.Event
		changed []bluegreen.Color
	)
	for _, c := range bluegreen.Colors {
		spec, ok := colors[c]
		if !ok {
			continue
		}
		cs := st.Colors[c]
		if cs.Branch == spec.Branch && slices.Equal(cs.Upstreams, spec.Upstreams) {
			continue
		}
		events = append(events, bluegreen.Event{
			Time: now, Actor: actor, Action: bluegreen.ActionConfig, Color: c, Outcome: bluegreen.OutcomeOK,
			Message: fmt.Sprintf("%s %s: branch %q → %q, upstreams %v → %v", c, what, cs.Branch, spec.Branch, cs.Upstreams, spec.Upstreams),
		})
		if !slices.Equal(cs.Upstreams, spec.Upstreams) {
			changed = append(changed, c)
		}
		cs.Branch, cs.Upstreams = spec.Branch, slices.Clone(spec.Upstreams)
		st.Colors[c] = cs
	}
	return events, changed
}
