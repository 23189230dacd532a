package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// campaignAll makes every node campaign in its own goroutine and returns a
// channel that receives each node's index as it becomes leader.
func campaignAll(t *testing.T, nodes []node) <-chan int {
	t.Helper()
	won := make(chan int, len(nodes))
	for i, n := range nodes {
		go func() {
			if err := n.Campaign(t.Context()); err == nil {
				won <- i
			}
		}()
	}
	return won
}

// waitWin returns the next node to win, failing after within.
func waitWin(t *testing.T, won <-chan int, within time.Duration) int {
	t.Helper()
	select {
	case i := <-won:
		return i
	case <-time.After(within):
		t.Fatalf("no instance became leader within %v", within)
		return -1
	}
}

// TestElection: one leader at a time among three instances; when the
// leader crashes (its lease left to expire) another leads within the TTL;
// when a leader closes (resigning) the next leads at once; Observe and
// Leader follow, and the records say who leads.
func TestElection(t *testing.T) {
	nodes := joinN(t, oneMember(t), 3)
	a := nodes[0]
	if _, err := a.Leader(t.Context()); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Leader before any campaign: %v, want ErrNoLeader", err)
	}
	won := campaignAll(t, nodes)
	first := waitWin(t, won, 5*time.Second)
	select {
	case i := <-won:
		t.Fatalf("%s and %s both lead", nodes[first].ID(), nodes[i].ID())
	case <-time.After(300 * time.Millisecond):
	}
	if id, err := a.Leader(t.Context()); err != nil || id != nodes[first].ID() {
		t.Fatalf("Leader = %q, %v; want %q", id, err, nodes[first].ID())
	}
	ms, _ := a.Members(t.Context())
	for _, m := range ms {
		if want := map[bool]Role{true: Leader, false: Follower}[m.ID == nodes[first].ID()]; m.Role != want {
			t.Errorf("%s's role = %q, want %q", m.ID, m.Role, want)
		}
	}

	watcher := nodes[(first+1)%3]
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	obs := watcher.Observe(ctx)
	if id := <-obs; id != nodes[first].ID() {
		t.Fatalf("Observe's first leader = %q, want %q", id, nodes[first].ID())
	}

	nodes[first].crash()
	start := time.Now()
	second := waitWin(t, won, testTTL+time.Second)
	took := time.Since(start)
	t.Logf("after the leader crashed, %s led within %v (TTL %v)", nodes[second].ID(), took.Round(time.Millisecond), testTTL)
	select {
	case id := <-obs:
		if id != nodes[second].ID() {
			t.Errorf("Observe's next leader = %q, want %q", id, nodes[second].ID())
		}
	case <-time.After(time.Second):
		t.Error("Observe did not deliver the new leader")
	}

	if err := nodes[second].Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	third := waitWin(t, won, time.Second)
	if third == first || third == second {
		t.Fatalf("leader %d after %d and %d", third, first, second)
	}
	t.Logf("after the leader closed, %s led within %v", nodes[third].ID(), time.Since(start).Round(time.Millisecond))
	if err := nodes[third].Resign(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[third].Leader(t.Context()); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader after the last one resigned: %v, want ErrNoLeader", err)
	}
	if r := nodes[third].Self().Role; r != Follower {
		t.Errorf("role after Resign = %q, want follower", r)
	}
}
