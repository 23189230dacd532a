package daemon

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/cluster"
	"github.com/bluegreen/bluegreen/router"
)

// This file is the post-switch watch of several serve instances on one
// etcd: every instance publishes its router's figures under its lease
// (publishFigures), and the leader's watch judges the sum of every live
// instance's traffic since the switch (clusterMeter), so that a bad
// release seen through only one of several routers is still rolled back.

// etcdTimeout bounds each read or write of the figures on etcd, so that an
// unreachable etcd delays a watch's judgement or a publish by at most that.
const etcdTimeout = 2 * time.Second

// figuresOf converts the router's per-color stats to the figures the
// cluster publishes: requests, 5xx answers and the latency histogram.
func figuresOf(stats map[bluegreen.Color]router.ColorStats) map[bluegreen.Color]cluster.Figures {
	out := make(map[bluegreen.Color]cluster.Figures, len(stats))
	for c, s := range stats {
		out[c] = figureOf(s)
	}
	return out
}

// figureOf converts one color's stats to its figures.
func figureOf(s router.ColorStats) cluster.Figures {
	return cluster.Figures{Requests: s.Requests, Errors5xx: s.Status[4], Latency: cluster.Histogram{
		Bounds: slices.Clone(s.Latency.Bounds), Counts: slices.Clone(s.Latency.Counts),
		Count: s.Latency.Count, Sum: s.Latency.Sum,
	}}
}

// routerHistogram converts a published histogram back to the router's, for
// its Sub and Quantile.
func routerHistogram(h cluster.Histogram) router.Histogram {
	return router.Histogram{Bounds: h.Bounds, Counts: h.Counts, Count: h.Count, Sum: h.Sum}
}

// publishFigures publishes figuresOf(stats()) under in's lease at once and
// then every `every`, until ctx ends; it returns then, so the caller runs
// it on a goroutine it owns and stops it by cancelling ctx. Each publish
// is bounded by min(every, etcdTimeout). A failure is logged at the first
// of a run of failures, and the recovery once (with how many attempts
// failed and since when), never once per tick: etcd may be down for
// minutes. The leader reads what was published last, so the figures it
// judges are at most `every` (plus the publish) old.
func publishFigures(ctx context.Context, in *cluster.Instance, stats func() map[bluegreen.Color]router.ColorStats, every time.Duration, logger *slog.Logger) {
	logger = logger.With("component", "cluster figures")
	tick := time.NewTicker(every)
	defer tick.Stop()
	var failed int
	var since time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, min(every, etcdTimeout))
		err := in.PublishFigures(pctx, figuresOf(stats()))
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if failed == 0 {
				since = time.Now()
				logger.Warn("publishing this router's figures failed; the leader's watch sees the last ones published until it works again", "err", err)
			}
			failed++
		case failed > 0:
			logger.Info("publishing this router's figures works again", "failed_attempts", failed, "since", since.UTC())
			failed = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// clusterMeter is the controller.Meter of a serve instance in a cluster:
// it measures a color's traffic through every live instance's router, the
// local one from its stats and the others from the figures they publish
// (publishFigures). The others' figures are as fresh as their last
// publish; when etcd cannot be read, the figures read last are used, so
// the watch keeps judging the local traffic plus what it knew.
type clusterMeter struct {
	in      *cluster.Instance
	stats   func() map[bluegreen.Color]router.ColorStats
	logger  *slog.Logger
	timeout time.Duration // bounds each read of the others' figures
}

// newClusterMeter returns the meter of instance in, whose local router's
// stats are stats() (such as (*router.Router).Stats).
func newClusterMeter(in *cluster.Instance, stats func() map[bluegreen.Color]router.ColorStats, logger *slog.Logger) *clusterMeter {
	return &clusterMeter{in: in, stats: stats, logger: logger.With("component", "cluster meter"), timeout: etcdTimeout}
}

// Start implements controller.Meter: it snapshots the local stats for c
// and the figures the other live instances published for c (waiting at
// most the meter's timeout for etcd), and returns a function reporting
// c's traffic since then, summed over every live instance: the local
// router's plus, for each other instance, its current figures minus those
// of the snapshot. An instance that was not in the snapshot (it joined, or
// published c for the first time, later) counts whole, and so does one
// whose counters went down (it restarted under the same ID); one that left
// (its lease ended) no longer counts. When the snapshot could not be read,
// the first read that works is the snapshot, so the others' traffic in
// between is not counted. The function reads etcd at each call, bounded by
// the timeout (concurrent calls share one read), and is safe for
// concurrent use.
func (m *clusterMeter) Start(c bluegreen.Color) func() bluegreen.WatchFigures {
	r := &meterRun{m: m, color: c, local: m.stats()[c]}
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	others, err := r.readOthers(ctx)
	r.mu.Lock()
	r.record(others, err)
	r.mu.Unlock()
	return r.figures
}

// meterRun is one measurement started by clusterMeter.Start.
type meterRun struct {
	m     *clusterMeter
	color bluegreen.Color
	local router.ColorStats // the local stats at Start

	mu      sync.Mutex // guards the fields below
	based   bool       // base has been read
	base    map[string]cluster.Figures
	last    map[string]cluster.Figures // the others' figures read last
	failing bool                       // the last read failed
	reading chan struct{}              // closed when the read in progress ends; nil when none
}

// figures reports the color's traffic since Start (see clusterMeter.Start).
func (r *meterRun) figures() bluegreen.WatchFigures {
	sum := figureOf(r.m.stats()[r.color].Sub(r.local))
	others := r.othersSinceStart()
	for _, id := range slices.Sorted(maps.Keys(others)) {
		f := others[id]
		if err := sum.Add(f); err != nil {
			// Another router with other latency buckets: its counts
			// still count, its latencies cannot be added.
			sum.Add(cluster.Figures{Requests: f.Requests, Errors5xx: f.Errors5xx})
		}
	}
	w := bluegreen.WatchFigures{Requests: sum.Requests, Errors: sum.Errors5xx}
	if w.Requests > 0 {
		w.ErrorRatio = float64(w.Errors) / float64(w.Requests)
	}
	if q := routerHistogram(sum.Latency).Quantile(0.99); !math.IsNaN(q) {
		w.P99MS = q * 1000
	}
	return w
}

// othersSinceStart reads the other instances' figures (or joins the read
// in progress) and returns, by instance ID, their traffic since the base.
func (r *meterRun) othersSinceStart() map[string]cluster.Figures {
	r.mu.Lock()
	if ch := r.reading; ch != nil {
		r.mu.Unlock()
		<-ch
		r.mu.Lock()
	} else {
		ch := make(chan struct{})
		r.reading = ch
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), r.m.timeout)
		others, err := r.readOthers(ctx)
		cancel()
		r.mu.Lock()
		r.reading = nil
		close(ch)
		r.record(others, err)
	}
	defer r.mu.Unlock()
	out := make(map[string]cluster.Figures, len(r.last))
	for id, cur := range r.last {
		out[id] = since(cur, r.base[id])
	}
	return out
}

// record keeps the result of a read of the others' figures: the first
// read that works is the base, every one that works the last figures. A
// failure keeps the last figures, and is logged at the first of a run of
// failures and when a read works again. Called with mu held.
func (r *meterRun) record(others map[string]cluster.Figures, err error) {
	if err != nil {
		if !r.failing {
			r.m.logger.Warn("reading the other routers' figures failed; judging the local traffic plus their figures read last", "color", r.color, "err", err)
			r.failing = true
		}
		return
	}
	if r.failing {
		r.m.logger.Info("reading the other routers' figures works again", "color", r.color)
		r.failing = false
	}
	if !r.based {
		r.base, r.based = others, true
	}
	r.last = others
}

// readOthers returns the figures for the run's color that the other live
// instances published last, by instance ID.
func (r *meterRun) readOthers(ctx context.Context) (map[string]cluster.Figures, error) {
	byID, err := r.m.in.InstanceFigures(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]cluster.Figures{}
	for id, figs := range byID {
		if f, ok := figs[r.color]; ok && id != r.m.in.ID() {
			out[id] = f
		}
	}
	return out, nil
}

// since returns the traffic between the published figures base and cur:
// cur whole when a counter went down (the instance restarted under the
// same ID, or base is the zero Figures of an instance not in the base).
func since(cur, base cluster.Figures) cluster.Figures {
	if cur.Requests < base.Requests || cur.Errors5xx < base.Errors5xx || cur.Latency.Count < base.Latency.Count {
		return cur
	}
	h := routerHistogram(cur.Latency).Sub(routerHistogram(base.Latency))
	return cluster.Figures{Requests: cur.Requests - base.Requests, Errors5xx: cur.Errors5xx - base.Errors5xx,
		Latency: cluster.Histogram{Bounds: h.Bounds, Counts: h.Counts, Count: h.Count, Sum: h.Sum}}
}
