package cluster

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrNoLeader is returned by Leader when no instance leads.
var ErrNoLeader = errors.New("cluster: no leader")

// Campaign blocks until the instance is the leader, then marks its record
// Leader and returns nil. One instance leads at a time: the others wait in
// line behind it (in the order they campaigned). It returns ctx's error
// when ctx ends first (the instance then leaves the line), ErrClosed after
// Close. Leadership lasts until Resign, Close, or the loss of the lease
// (Done); a leader killed without resigning is replaced within the TTL.
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
	return in.update(ctx, func(m *Member) { m.Role = Leader })
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
