package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCampaignOnALostLease: a campaign waiting in line on a lease that is
// lost and renewed meanwhile does not win when the leader goes (its key
// went with the old lease): only the instance whose current lease is next
// leads. Before the check, both b and c returned as leaders.
func TestCampaignOnALostLease(t *testing.T) {
	nodes := joinN(t, oneMember(t), 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	if err := a.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	bDone := make(chan error, 1)
	go func() { bDone <- b.Campaign(t.Context()) }()
	waitCandidates(t, a, 2)
	if _, err := b.cli.Revoke(t.Context(), b.lease()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, b.Done(), "b's session to end")
	if err := b.Renew(t.Context()); err != nil {
		t.Fatal(err)
	}
	cDone := make(chan error, 1)
	go func() { cDone <- c.Campaign(t.Context()) }()
	waitCandidates(t, a, 2) // a and c: b's old candidacy went with its lease
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, bDone); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("b's campaign on its lost lease = %v, want ErrLeaseLost", err)
	}
	if err := waitErr(t, cDone); err != nil {
		t.Errorf("c's campaign = %v, want it to lead", err)
	}
	if id, err := b.Leader(t.Context()); err != nil || id != "c" {
		t.Errorf("Leader = %q, %v; want c", id, err)
	}
}

// TestLost: the leadership's Lost channel closes when the leader resigns,
// and when its lease is revoked.
func TestLost(t *testing.T) {
	nodes := joinN(t, oneMember(t), 2)
	a, b := nodes[0], nodes[1]
	if err := a.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	lost := a.Lost(t.Context())
	select {
	case <-lost:
		t.Fatal("Lost is closed while a leads")
	default:
	}
	if err := a.Resign(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, lost, "Lost after Resign")

	if err := b.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	lost = b.Lost(t.Context())
	if _, err := b.cli.Revoke(t.Context(), b.lease()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, lost, "Lost after the lease was revoked")
}

// TestRenewRevokesALeaseEtcdStillHolds: when the session ended on the
// instance's side while etcd still holds its lease (after a quorum loss a
// new etcd leader extends the leases), Campaign refuses to report a win on
// it, and Renew revokes it at once, so that the next in line leads now
// rather than a TTL later.
func TestRenewRevokesALeaseEtcdStillHolds(t *testing.T) {
	nodes := joinN(t, oneMember(t), 2)
	a, b := nodes[0], nodes[1]
	if err := a.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	bDone := make(chan error, 1)
	go func() { bDone <- b.Campaign(t.Context()) }()
	waitCandidates(t, a, 2)
	a.mu.Lock()
	session := a.session
	a.mu.Unlock()
	session.Orphan() // the keep-alive stops here; etcd keeps the lease for its TTL
	if err := a.Campaign(t.Context()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Campaign on an ended session = %v, want ErrLeaseLost", err)
	}
	start := time.Now()
	if err := a.Renew(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, bDone); err != nil {
		t.Fatalf("b's campaign = %v", err)
	}
	if waited := time.Since(start); waited > testTTL/2 {
		t.Errorf("b led %v after a's Renew; want at once (the TTL is %v)", waited, testTTL)
	}
}

// waitCandidates waits until n candidacies are in the election.
func waitCandidates(t *testing.T, in node, n int64) {
	t.Helper()
	testenv.WaitFor(t, 5*time.Second, "the candidacies", func() bool {
		resp, err := in.cli.Get(t.Context(), "/t/cluster/election/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == n
	})
}

// waitClosed waits for ch to be closed.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitErr waits for a campaign's result.
func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a campaign to return")
		return context.DeadlineExceeded
	}
}
