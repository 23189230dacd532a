package router

import (
	"context"
	"math"
	"time"

	"github.com/bluegreen/bluegreen"
)

// This file is the router as the controller sees it: a *Router satisfies
// controller.Router (Swap, Traffic), and Meter is its controller.Meter.

// Swap is Switch for the controller: it makes to the live color at once
// and returns what waits for the old color's in-flight requests, reporting
// them in the domain's terms.
func (rt *Router) Swap(to bluegreen.Color) bluegreen.Drainer { return drainReporter{rt.Switch(to)} }

// drainReporter is a Drain whose Wait returns the domain's report.
type drainReporter struct{ d *Drain }

// Wait implements bluegreen.Drainer.
func (r drainReporter) Wait(ctx context.Context, timeout time.Duration) bluegreen.DrainReport {
	return r.d.Wait(ctx, timeout).Report()
}

// Traffic returns each color's figures since the router started, in the
// domain's terms (see Stats). Safe for concurrent use.
func (rt *Router) Traffic() map[bluegreen.Color]bluegreen.TrafficStats {
	stats := rt.Stats()
	out := make(map[bluegreen.Color]bluegreen.TrafficStats, len(stats))
	for c, s := range stats {
		out[c] = s.Traffic()
	}
	return out
}

// Meter measures a color's traffic from the router's counters, for the
// controller's post-switch watch.
type Meter struct{ rt *Router }

// Meter returns the router's Meter.
func (rt *Router) Meter() Meter { return Meter{rt} }

// Start begins a measurement of color c and returns a function that
// reports c's requests, 5xx answers and p99 latency since Start was called.
// The function is safe for concurrent use.
func (m Meter) Start(c bluegreen.Color) func() bluegreen.WatchFigures {
	base := m.rt.Stats()[c]
	return func() bluegreen.WatchFigures {
		d := m.rt.Stats()[c].Sub(base)
		f := bluegreen.WatchFigures{Requests: d.Requests, Errors: d.Status[4]}
		if d.Requests > 0 {
			f.ErrorRatio = float64(f.Errors) / float64(d.Requests)
		}
		if q := d.Latency.Quantile(0.99); !math.IsNaN(q) {
			f.P99MS = q * 1000
		}
		return f
	}
}
