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

func (s callerStore) Commit(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	return s.Store.Commit(ctx, next, stamp(ctx, events)...)
}

func (s callerStore) Append(ctx context.Context, events ...bluegreen.Event) error {
	return s.Store.Append(ctx, stamp(ctx, events)...)
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
