package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bluegreen/bluegreen"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Live is one committed state's live color, as WatchLive delivers it.
type Live struct {
	// Color is the state's live color, Revision the state's revision.
	Color    bluegreen.Color
	Revision int64
	// ModRevision is etcd's revision of the commit; WatchLive delivers
	// increasing ModRevisions.
	ModRevision int64
}

// retryEvery is how long WatchLive waits before reading again after etcd
// could not be reached.
const retryEvery = 200 * time.Millisecond

// WatchLive delivers the live color and revision of each state committed at
// key (the Store's state key, JSON of bluegreen.State), in commit order,
// starting with the current one, until ctx ends; then the channel is
// closed. When the watch fails (etcd unreachable, the revisions it needed
// compacted away) it reads the key again and resumes from there: commits
// made in between may be skipped, the latest is always delivered, and
// nothing is delivered twice or out of order. A value that is not a state
// is skipped. The caller must keep reading or cancel ctx.
func (in *Instance) WatchLive(ctx context.Context, key string) <-chan Live {
	out := make(chan Live)
	go func() {
		defer close(out)
		var last int64 // the ModRevision last delivered
		send := func(modRev int64, value []byte) bool {
			if modRev <= last {
				return true
			}
			var st bluegreen.State
			if err := json.Unmarshal(value, &st); err != nil {
				last = modRev
				return true
			}
			select {
			case out <- Live{Color: st.Live, Revision: st.Revision, ModRevision: modRev}:
				last = modRev
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ctx.Err() == nil {
			resp, err := in.cli.Get(ctx, key)
			if err != nil {
				sleep(ctx, retryEvery)
				continue
			}
			if len(resp.Kvs) > 0 && !send(resp.Kvs[0].ModRevision, resp.Kvs[0].Value) {
				return
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for wr := range in.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
				if wr.Err() != nil {
					break // read again, then watch from there
				}
				for _, ev := range wr.Events {
					if ev.Type == clientv3.EventTypePut && !send(ev.Kv.ModRevision, ev.Kv.Value) {
						cancel()
						return
					}
				}
			}
			cancel()
		}
	}()
	return out
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Ack records in the instance's record that it serves color as of the
// state revision rev (and stamps its heartbeat), for WaitAcks. since is
// when it began serving color (by its clock; the zero time means now); it
// is recorded when the color differs from the one acknowledged before.
func (in *Instance) Ack(ctx context.Context, color bluegreen.Color, rev int64, since time.Time) error {
	if since.IsZero() {
		since = in.now()
	}
	return in.update(ctx, func(m *Member) {
		if m.Color != color {
			m.Since = since.UTC()
		}
		m.Color, m.Revision = color, rev
	})
}

// Acks says which live instances acknowledged a revision and which did
// not, by ID, sorted.
type Acks struct {
	Acked   []string
	Missing []string
	// Spread is the time between the first and the last of the acked
	// instances beginning to serve the color they serve (Member.Since, by
	// their clocks), among those that serve the one most of them do.
	Spread time.Duration
}

// WaitAcks waits until every live instance has acknowledged the state
// revision rev or a later one (Ack), or until deadline, and returns who
// did and who did not. An instance that dies while it waits stops being
// waited for once its lease expires. Reaching the deadline is not an
// error: Missing names the instances that did not acknowledge. It returns
// an error, with the Acks last read, when ctx ends or etcd cannot be read.
func (in *Instance) WaitAcks(ctx context.Context, rev int64, deadline time.Time) (Acks, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var (
		acks    Acks
		changes clientv3.WatchChan
		stop    = func() {}
	)
	defer func() { stop() }()
	for {
		if changes == nil {
			// The watch starts before the read, so that no change after the
			// read is missed; and at etcd's current revision, where it is
			// told of changes at once (a watch from an older revision waits
			// for etcd's catch-up loop, up to 100 ms).
			changes, stop = in.watchMembers(dctx)
		}
		ms, err := in.Members(dctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return acks, ctx.Err()
			case dctx.Err() != nil && acks.Missing != nil:
				return acks, nil // the deadline, after a first read
			}
			return acks, err
		}
		acks = Acks{Acked: []string{}, Missing: []string{}}
		var acked []Member
		for _, m := range ms {
			if m.Revision >= rev {
				acks.Acked = append(acks.Acked, m.ID)
				acked = append(acked, m)
			} else {
				acks.Missing = append(acks.Missing, m.ID)
			}
		}
		acks.Spread = spread(acked)
		if len(acks.Missing) == 0 {
			return acks, nil
		}
		wr, ok := <-changes
		if !ok || wr.Err() != nil {
			switch {
			case ctx.Err() != nil:
				return acks, ctx.Err()
			case dctx.Err() != nil:
				return acks, nil // the deadline
			}
			stop()
			changes = nil
			sleep(dctx, retryEvery) // then watch and read again: an unreachable etcd fails the read
		}
	}
}

// watchMembers watches the member records from etcd's current revision
// on, and returns once etcd has created the watch (or it failed: the
// channel then delivers the failure or is closed). stop ends the watch.
func (in *Instance) watchMembers(ctx context.Context) (clientv3.WatchChan, func()) {
	wctx, stop := context.WithCancel(clientv3.WithRequireLeader(ctx))
	ch := in.cli.Watch(wctx, in.prefix+"members/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	for wr := range ch {
		if wr.Created || wr.Err() != nil {
			if wr.Err() != nil {
				// Deliver the failure to the caller's next receive.
				failed := make(chan clientv3.WatchResponse, 1)
				failed <- wr
				close(failed)
				return failed, stop
			}
			break
		}
	}
	return ch, stop
}

// spread is the time between the first and the last of ms beginning to
// serve their color, among those serving the color most of them serve.
func spread(ms []Member) time.Duration {
	count := map[bluegreen.Color]int{}
	var most bluegreen.Color
	for _, m := range ms {
		count[m.Color]++
		if count[m.Color] > count[most] {
			most = m.Color
		}
	}
	var first, last time.Time
	for _, m := range ms {
		if m.Color != most || m.Since.IsZero() {
			continue
		}
		if first.IsZero() || m.Since.Before(first) {
			first = m.Since
		}
		if m.Since.After(last) {
			last = m.Since
		}
	}
	return last.Sub(first)
}
