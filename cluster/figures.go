package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"

	"github.com/bluegreen/bluegreen"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Figures are one color's router counters on one instance, or summed over
// several: what the leader's post-switch watch judges.
type Figures struct {
	// Requests counts the requests routed to the color, Errors5xx those
	// answered with a 5xx status.
	Requests  int64 `json:"requests"`
	Errors5xx int64 `json:"errors_5xx"`
	// Latency is the histogram of their latencies.
	Latency Histogram `json:"latency"`
}

// Histogram is a cumulative latency histogram in the Prometheus style, the
// shape of router.Histogram (which the wiring converts to and from, and
// whose Quantile gives the p99 of a sum).
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds, increasing; a last,
	// implicit bucket has the bound +Inf.
	Bounds []float64 `json:"bounds"`
	// Counts[i] is the number of observations <= Bounds[i]; it has
	// len(Bounds)+1 entries.
	Counts []int64 `json:"counts"`
	// Count is the number of observations and Sum their total in seconds.
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
}

// Add adds o to f, counter by counter and bucket by bucket. It fails,
// leaving f unchanged, when both histograms are non-empty with different
// bounds; an empty histogram (no bounds) takes o's.
func (f *Figures) Add(o Figures) error {
	h := f.Latency
	switch {
	case len(o.Latency.Bounds) == 0 && len(o.Latency.Counts) == 0:
	case len(h.Bounds) == 0 && len(h.Counts) == 0:
		h = Histogram{Bounds: slices.Clone(o.Latency.Bounds), Counts: slices.Clone(o.Latency.Counts), Count: o.Latency.Count, Sum: o.Latency.Sum}
	case !slices.Equal(h.Bounds, o.Latency.Bounds) || len(h.Counts) != len(o.Latency.Counts):
		return bluegreen.Errorf(bluegreen.EINVALID, "cluster: adding latency histograms with different buckets (%v and %v)", h.Bounds, o.Latency.Bounds)
	default:
		h.Counts = slices.Clone(h.Counts)
		for i, c := range o.Latency.Counts {
			h.Counts[i] += c
		}
		h.Count += o.Latency.Count
		h.Sum += o.Latency.Sum
	}
	f.Requests += o.Requests
	f.Errors5xx += o.Errors5xx
	f.Latency = h
	return nil
}

// PublishFigures replaces the instance's published figures with figs
// (per color), under its lease: they disappear with the instance.
func (in *Instance) PublishFigures(ctx context.Context, figs map[bluegreen.Color]Figures) error {
	if err := in.check(); err != nil {
		return err
	}
	data, err := json.Marshal(figs)
	if err != nil {
		return fmt.Errorf("cluster: encoding figures: %w", err)
	}
	if _, err := in.cli.Put(ctx, in.prefix+"figures/"+in.id, string(data), clientv3.WithLease(in.lease())); err != nil {
		return fmt.Errorf("cluster: publishing %s's figures: %w", in.id, err)
	}
	return nil
}

// InstanceFigures returns the figures each live instance published last
// (per color), by instance ID, read at one etcd revision. An instance is
// live while its member key exists: a crashed one is listed until its
// lease expires, a closed one no longer; a live instance that has not
// published yet is absent. The instance itself is included. It fails when
// etcd cannot be read within ctx or when a record does not decode.
func (in *Instance) InstanceFigures(ctx context.Context) (map[string]map[bluegreen.Color]Figures, error) {
	resp, err := in.cli.Txn(ctx).Then(
		clientv3.OpGet(in.prefix+"members/", clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(in.prefix+"figures/", clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("cluster: reading figures: %w", err)
	}
	live := map[string]bool{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		live[path.Base(string(kv.Key))] = true
	}
	out := map[string]map[bluegreen.Color]Figures{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		id := path.Base(string(kv.Key))
		if !live[id] {
			continue
		}
		var figs map[bluegreen.Color]Figures
		if err := json.Unmarshal(kv.Value, &figs); err != nil {
			return nil, fmt.Errorf("cluster: figures %s: %w", kv.Key, err)
		}
		out[id] = figs
	}
	return out, nil
}

// SumFigures returns, per color, the sum of the figures the live instances
// published last (InstanceFigures), read at one etcd revision. It fails
// when etcd cannot be read, when a record does not decode, or with an
// EINVALID error when two instances' histograms have different buckets.
func (in *Instance) SumFigures(ctx context.Context) (map[bluegreen.Color]Figures, error) {
	byID, err := in.InstanceFigures(ctx)
	if err != nil {
		return nil, err
	}
	sum := map[bluegreen.Color]Figures{}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		for c, f := range byID[id] {
			s := sum[c]
			if err := s.Add(f); err != nil {
				return nil, fmt.Errorf("cluster: figures of %s: %w", id, err)
			}
			sum[c] = s
		}
	}
	return sum, nil
}
