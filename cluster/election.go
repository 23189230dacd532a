package cluster

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrNoLeader is returned by Leader when no instance leads.
var ErrNoLeader = errors.New("cluster: no leader")

// ErrLeaseLost is returned by Campaign when the lease the campaign ran on
// was lost meanwhile: the instance does not lead. Campaign again once Renew
// has registered it anew.
var ErrLeaseLost = errors.New("cluster: the lease was lost while campaigning; campaign again once the instance is registered anew (Renew)")

// Campaign blocks until the instance is the leader, then marks its record
// Leader and returns nil. One instance leads at a time: the others wait in
// line behind it (in the order they campaigned). It returns ctx's error
// when ctx ends first (the instance then leaves the line), ErrClosed after
// Close, and ErrLeaseLost when the lease it campaigned on was lost before
// it won: it returns nil only when the instance's current lease holds the
// leadership. Leadership lasts until Resign, Close, or the loss of the lease;
// Lost tells when it ends. A leader killed without resigning is replaced
// once its lease expires.
func (in *Instance) Campaign(ctx context.Context) error {
	if err := in.check(); err != nil {
		return err
	}
	if err := in.waitAbandoned(ctx); err != nil {
		return err
	}
	// The client library's Campaign, when ctx ends while it waits, takes
	// its candidacy back with the client's own context: with etcd
	// unreachable that blocks until etcd is back or the client is closed.
	// Campaign returns when ctx ends regardless, and leaves that call its
	// election object (not safe for concurrent use): the instance goes on
	// with a new one, and its next campaign waits for the old call to end.
	done := make(chan error, 1)
	el := in.elect()
	go func() { done <- el.Campaign(ctx, in.id) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		finished := make(chan struct{})
		go func() { <-done; close(finished) }()
		in.mu.Lock()
		in.abandoned = finished
		in.election = concurrency.NewElection(in.session, in.prefix+"election/")
		in.mu.Unlock()
		return ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cluster: campaigning: %w", err)
	}
	// The library's campaign does not notice that its lease ended while it
	// waited (its key went with it): check that this lease leads.
	in.mu.Lock()
	session, current := in.session, in.election
	in.mu.Unlock()
	select {
	case <-session.Done():
		return ErrLeaseLost
	default:
	}
	if current != el {
		return ErrLeaseLost // renewed meanwhile: el ran on the old lease
	}
	resp, err := in.cli.Get(ctx, el.Key())
	if err != nil {
		return fmt.Errorf("cluster: checking the won election: %w", err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != el.Rev() || resp.Kvs[0].Lease != int64(session.Lease()) {
		return ErrLeaseLost
	}
	return in.update(ctx, func(m *Member) { m.Role = Leader })
}

// Leadership returns the election key the instance's leadership rests on
// and its create revision, for fencing its writes (the key lives as long as
// the leadership); "" when the instance has not won on its current lease.
func (in *Instance) Leadership() (key string, rev int64) {
	el := in.elect()
	return el.Key(), el.Rev()
}

// Lost returns a channel that is closed when the leadership Campaign won
// ends: the lease it was won on ends (Done), its election key is deleted
// (Resign, Close, a lease expired on the etcd side), or ctx ends. Call it
// right after Campaign returned nil; the caller must stop acting as the
// leader when the channel is closed.
func (in *Instance) Lost(ctx context.Context) <-chan struct{} {
	in.mu.Lock()
	session, el := in.session, in.election
	in.mu.Unlock()
	lost := make(chan struct{})
	key, rev := el.Key(), el.Rev()
	go func() {
		defer close(lost)
		if key == "" {
			return // never won on this election
		}
		from := rev + 1
		for {
			if in.keyDeleted(ctx, session, key, from) {
				return
			}
			// The watch failed (etcd restarted, revisions compacted): the
			// key decides.
			resp, err := in.cli.Get(ctx, key)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				sleep(ctx, retryEvery)
				continue
			case len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev:
				return
			}
			from = resp.Header.Revision + 1
		}
	}()
	return lost
}

// keyDeleted watches key from revision from on and reports true when it
// is deleted, the session ends or ctx ends; false when the watch failed.
func (in *Instance) keyDeleted(ctx context.Context, session *concurrency.Session, key string, from int64) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := in.cli.Watch(wctx, key, clientv3.WithRev(from))
	for {
		select {
		case <-session.Done():
			return true
		case <-ctx.Done():
			return true
		case wr, ok := <-changes:
			if !ok || wr.Err() != nil {
				return false
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					return true
				}
			}
		}
	}
}

// Resign gives up the leadership (a no-op when the instance does not
// lead) and marks the record Follower; the next instance in line leads.
func (in *Instance) Resign(ctx context.Context) error {
	if err := in.check(); err != nil {
		return err
	}
	if err := in.elect().Resign(ctx); err != nil {
		return fmt.Errorf("cluster: resigning: %w", err)
	}
	return in.update(ctx, func(m *Member) { m.Role = Follower })
}

// Leader returns the ID of the instance that leads now, or ErrNoLeader.
func (in *Instance) Leader(ctx context.Context) (string, error) {
	resp, err := in.elect().Leader(ctx)
	if errors.Is(err, concurrency.ErrElectionNoLeader) {
		return "", ErrNoLeader
	}
	if err != nil {
		return "", fmt.Errorf("cluster: reading the leader: %w", err)
	}
	return string(resp.Kvs[0].Value), nil
}

// Observe delivers the ID of each new leader, starting with the current
// one (once there is one), until ctx ends or the watch fails (etcd
// unreachable); then the channel is closed and the caller may Observe
// again. A reader that falls behind may miss intermediate leaders, never
// the latest.
func (in *Instance) Observe(ctx context.Context) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		last := ""
		for resp := range in.elect().Observe(ctx) {
			if len(resp.Kvs) == 0 {
				continue
			}
			id := string(resp.Kvs[0].Value)
			if id == last {
				continue
			}
			last = id
			select {
			case out <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// waitAbandoned waits until the campaign call a previous Campaign left
// behind has ended, or ctx ends.
func (in *Instance) waitAbandoned(ctx context.Context) error {
	in.mu.Lock()
	ch := in.abandoned
	in.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// check returns ErrClosed after Close.
func (in *Instance) check() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	return nil
}
