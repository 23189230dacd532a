package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestMembers registers three instances; one is closed (it disappears at
// once), one crashes (its lease is left to expire: it disappears within
// the TTL); a live ID cannot be taken twice.
func TestMembers(t *testing.T) {
	eps := oneMember(t)
	nodes := joinN(t, eps, 3)
	a := nodes[0]
	ms, err := a.Members(t.Context())
	if err != nil || !slices.Equal(ids(ms), []string{"a", "b", "c"}) {
		t.Fatalf("Members = %v, %v; want a, b, c", ids(ms), err)
	}
	for _, m := range ms {
		if m.Role != Follower || m.Address == "" || m.Heartbeat.IsZero() {
			t.Errorf("member %+v: want a follower with its address and a heartbeat", m)
		}
	}
	if _, err := Join(t.Context(), Options{Client: newClient(t, eps), Prefix: "/t/", ID: "b", TTL: testTTL}); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Errorf("Join with a live instance's ID: %v, want ECONFLICT", err)
	}

	before := ms[0].Heartbeat
	time.Sleep(10 * time.Millisecond)
	if err := a.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := a.Members(t.Context()); !ms[0].Heartbeat.After(before) {
		t.Errorf("Heartbeat did not move a's heartbeat (%v, then %v)", before, ms[0].Heartbeat)
	}

	if err := nodes[1].Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := a.Members(t.Context()); !slices.Equal(ids(ms), []string{"a", "c"}) {
		t.Errorf("after b's Close, Members = %v; want a, c at once", ids(ms))
	}
	if err := nodes[1].Heartbeat(t.Context()); err != ErrClosed {
		t.Errorf("Heartbeat after Close: %v, want ErrClosed", err)
	}

	nodes[2].crash()
	start := time.Now()
	testenv.WaitFor(t, testTTL+time.Second, "the crashed instance c to disappear", func() bool {
		ms, err := a.Members(t.Context())
		return err == nil && slices.Equal(ids(ms), []string{"a"})
	})
	t.Logf("the crashed instance disappeared after %v (TTL %v)", time.Since(start).Round(time.Millisecond), testTTL)

	// Its ID is free again.
	c, err := Join(t.Context(), Options{Client: newClient(t, eps), Prefix: "/t/", ID: "c", TTL: testTTL})
	if err != nil {
		t.Fatalf("Join after the lease expired: %v", err)
	}
	c.Close(t.Context())
}

// TestJoinInvalid refuses an instance without an ID or client.
func TestJoinInvalid(t *testing.T) {
	for _, o := range []Options{{}, {ID: "x/y"}} {
		if _, err := Join(t.Context(), o); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("Join(%+v): %v, want EINVALID", o, err)
		}
	}
}
