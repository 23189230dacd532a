package etcd

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluegreen/bluegreen"
)

// History limits, as in the SQLite store: a zero HistoryFilter.Limit means
// DefaultHistoryLimit, and larger limits are cut to MaxHistoryLimit.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 10000
)

// historyBatch is how many events History reads from etcd at a time.
const historyBatch = 500

// History returns the events matching f, newest (highest ID) first. Zero
// fields of f match everything; Limit <= 0 means DefaultHistoryLimit and
// Limit > MaxHistoryLimit means MaxHistoryLimit; BeforeID > 0 returns only
// events with smaller IDs, so passing the last ID of one page gets the next.
// Times come back in UTC; numbers in Details come back as float64 (JSON).
// It reads one snapshot of the history (events appended meanwhile are not
// seen), returns a nil slice when nothing matches, and fails with ErrClosed
// after Close. etcd cannot filter by value, so the events are read newest
// first in batches and filtered here: a filter that matches rarely reads
// much of the history.
func (s *Store) History(ctx context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	const op = "reading history"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return nil, err
	}
	defer cancel()
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultHistoryLimit
	case limit > MaxHistoryLimit:
		limit = MaxHistoryLimit
	}
	start := s.key(historyPrefix)
	end := clientv3.GetPrefixRangeEnd(start)
	if f.BeforeID > 0 {
		end = s.eventKey(f.BeforeID)
	}
	var (
		evs []bluegreen.Event
		rev int64 // the snapshot, fixed by the first read
	)
	for len(evs) < limit {
		opts := []clientv3.OpOption{clientv3.WithRange(end),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(historyBatch)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(cctx, start, opts...)
		if err != nil {
			return nil, s.fail(cctx, op, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			var e bluegreen.Event
			if err := json.Unmarshal(kv.Value, &e); err != nil {
				return nil, fmt.Errorf("%s: event %s is damaged: %w", op, kv.Key, err)
			}
			if matches(e, f) {
				evs = append(evs, e)
				if len(evs) == limit {
					break
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key) // exclusive: the next batch is older
	}
	return evs, nil
}

// matches reports whether e passes f's field and time filters.
func matches(e bluegreen.Event, f bluegreen.HistoryFilter) bool {
	return (f.Color == "" || e.Color == f.Color) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Actor == "" || e.Actor == f.Actor) &&
		(f.Outcome == "" || e.Outcome == f.Outcome) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until))
}
