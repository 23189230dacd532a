package cluster

import (
	"crypto/sha256"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestRenew: an instance whose lease was lost (revoked here, as an expiry
// after a long etcd outage would) is no longer a member; Renew registers
// it again on a new lease with the color and revision it served.
func TestRenew(t *testing.T) {
	eps := oneMember(t)
	nodes := joinN(t, eps, 2)
	a, b := nodes[0], nodes[1]
	if err := a.Ack(t.Context(), bluegreen.Green, 7, time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := a.Done()
	if _, err := a.cli.Revoke(t.Context(), a.lease()); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "a's session to end", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if ms, _ := b.Members(t.Context()); !slices.Equal(ids(ms), []string{"b"}) {
		t.Fatalf("members after a's lease ended: %v, want b", ids(ms))
	}
	if err := a.Renew(t.Context()); err != nil {
		t.Fatal(err)
	}
	ms, err := b.Members(t.Context())
	if err != nil || !slices.Equal(ids(ms), []string{"a", "b"}) {
		t.Fatalf("members after Renew: %v, %v; want a, b", ids(ms), err)
	}
	if m := ms[0]; m.Color != bluegreen.Green || m.Revision != 7 || m.Role != Follower {
		t.Errorf("a's record after Renew %+v; want a follower serving green at revision 7", m)
	}
	select {
	case <-a.Done():
		t.Error("Done is closed after Renew; want the new lease's channel")
	default:
	}
	// Its new lease is its own: leadership works again.
	if err := a.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	if id, err := b.Leader(t.Context()); err != nil || id != "a" {
		t.Errorf("Leader = %q, %v; want a", id, err)
	}
}

// TestReplace: a process taking over an instance's sockets (Replace)
// takes over its record; closing the old one leaves the record alone.
func TestReplace(t *testing.T) {
	eps := oneMember(t)
	old := joinN(t, eps, 1)[0]
	repl, err := Join(t.Context(), Options{Client: newClient(t, eps), Prefix: "/t", ID: "a", Address: "new", TTL: testTTL, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSoon(repl)
	if err := old.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	ms, err := repl.Members(t.Context())
	if err != nil || len(ms) != 1 || ms[0].Address != "new" {
		t.Errorf("members after the old instance closed: %+v, %v; want the replacement's record", ms, err)
	}
}

// TestSharedAdminToken: an instance's shared admin token hash is found by
// the others while it runs; another hash is not.
func TestSharedAdminToken(t *testing.T) {
	nodes := joinN(t, oneMember(t), 2)
	h := sha256.Sum256([]byte("a's secret"))
	if err := nodes[0].ShareAdminToken(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if id, err := nodes[1].AdminToken(t.Context(), h); err != nil || id != "a" {
		t.Errorf("AdminToken(a's hash) = %q, %v; want a", id, err)
	}
	if id, err := nodes[1].AdminToken(t.Context(), sha256.Sum256([]byte("guess"))); err != nil || id != "" {
		t.Errorf("AdminToken(another hash) = %q, %v; want none", id, err)
	}
	// The hash lives as long as a's lease: a stopped instance's token is
	// not admin on the others any more.
	if err := nodes[0].Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if id, err := nodes[1].AdminToken(t.Context(), h); err != nil || id != "" {
		t.Errorf("AdminToken(a's hash) after a closed = %q, %v; want none", id, err)
	}
}

// TestAckSpread: WaitAcks reports the time between the first and the last
// instance beginning to serve the new color, by their clocks.
func TestAckSpread(t *testing.T) {
	eps := oneMember(t)
	var clock atomic.Int64
	base := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(clock.Load())) }
	var ins []*Instance
	for _, id := range []string{"a", "b", "c"} {
		in, err := Join(t.Context(), Options{Client: newClient(t, eps), Prefix: "/t", ID: id, TTL: testTTL, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeSoon(in) })
		ins = append(ins, in)
	}
	for i, in := range ins {
		clock.Store(int64(i) * int64(3*time.Millisecond))
		if err := in.Ack(t.Context(), bluegreen.Green, 4, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// A later revision of the same color does not move Since.
	clock.Store(int64(time.Second))
	if err := ins[0].Ack(t.Context(), bluegreen.Green, 5, time.Time{}); err != nil {
		t.Fatal(err)
	}
	acks, err := ins[0].WaitAcks(t.Context(), 4, time.Now().Add(time.Second))
	if err != nil || len(acks.Acked) != 3 || acks.Spread != 6*time.Millisecond {
		t.Errorf("WaitAcks = %+v, %v; want 3 acked, spread 6ms", acks, err)
	}
}
