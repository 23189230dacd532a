package main

import (
	"context"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/router"
)

// routerAdapter presents a *router.Router as the controller's Router.
type routerAdapter struct{ rt *router.Router }

func (a routerAdapter) Swap(to bluegreen.Color) controller.Drainer {
	return drainAdapter{a.rt.Switch(to)}
}

func (a routerAdapter) Traffic() map[bluegreen.Color]bluegreen.TrafficStats {
	stats := a.rt.Stats()
	out := make(map[bluegreen.Color]bluegreen.TrafficStats, len(stats))
	for c, s := range stats {
		out[c] = s.Traffic()
	}
	return out
}

type drainAdapter struct{ d *router.Drain }

func (a drainAdapter) Wait(ctx context.Context, timeout time.Duration) bluegreen.DrainReport {
	return a.d.Wait(ctx, timeout).Report()
}
