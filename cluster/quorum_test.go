package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/store/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// commitLive commits the store's state with live as the live color,
// retrying for up to 15s while the cluster elects a new leader, and
// returns the committed revision.
func commitLive(t *testing.T, s *etcd.Store, live bluegreen.Color) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := s.Load(t.Context())
		if err == nil {
			next := st.Clone()
			next.Live = live
			st, err = s.Commit(t.Context(), next, bluegreen.Event{Actor: "test", Action: bluegreen.ActionSwitch})
			if err == nil {
				return st.Revision
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("committing %s: still failing after 15s: %v", live, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdLeader returns the index of the etcd member that leads the cluster.
func etcdLeader(t *testing.T, cli *clientv3.Client, ms []*etcdtest.Member) int {
	t.Helper()
	st, err := cli.Status(t.Context(), ms[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if mst, err := cli.Status(t.Context(), m.ClientURL); err == nil && mst.Header.MemberId == st.Leader {
			return i
		}
	}
	t.Fatal("no member is the etcd leader")
	return -1
}

// TestLoseOneEtcdMember kills (SIGKILL) the leader of a three-member etcd
// cluster under three instances and the store: the store keeps
// committing, WatchLive delivers the latest live color in order, no
// instance loses its lease nor the leader its leadership, and every
// instance's acknowledgement reaches WaitAcks.
func TestLoseOneEtcdMember(t *testing.T) {
	ms := etcdtest.Start(t, 3)
	eps := etcdtest.Endpoints(ms)
	s, err := etcd.Open(t.Context(), etcd.Options{Endpoints: eps, Prefix: "/t/", RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	nodes := joinN(t, eps, 3)
	a, b := nodes[0], nodes[1]
	if err := a.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rev := commitLive(t, s, bluegreen.Blue)
	ch := b.WatchLive(ctx, s.Prefix()+"state")
	if l := recv(t, ch); l.Revision != rev || l.Color != bluegreen.Blue {
		t.Fatalf("WatchLive's first delivery %+v, want blue at %d", l, rev)
	}

	dead := etcdLeader(t, a.cli, ms)
	ms[dead].Kill()
	t.Logf("killed etcd member %s, the leader", ms[dead].Name)
	colors := []bluegreen.Color{bluegreen.Green, bluegreen.Blue, bluegreen.Green}
	for _, c := range colors {
		rev = commitLive(t, s, c)
	}
	last := int64(0)
	for {
		l := recv(t, ch)
		if l.Revision <= last {
			t.Fatalf("WatchLive delivered revision %d after %d", l.Revision, last)
		}
		last = l.Revision
		if l.Revision == rev {
			if l.Color != bluegreen.Green {
				t.Fatalf("latest delivery %+v, want green", l)
			}
			break
		}
	}

	for _, n := range nodes {
		if err := n.Ack(t.Context(), bluegreen.Green, rev, time.Time{}); err != nil {
			t.Fatalf("%s's Ack after the member died: %v", n.ID(), err)
		}
	}
	acks, err := a.WaitAcks(t.Context(), rev, time.Now().Add(5*time.Second))
	if err != nil || len(acks.Acked) != 3 || len(acks.Missing) != 0 {
		t.Fatalf("WaitAcks = %+v, %v; want all three", acks, err)
	}
	if id, err := b.Leader(t.Context()); err != nil || id != "a" {
		t.Errorf("Leader after the member died = %q, %v; want a still", id, err)
	}
	select {
	case <-a.Done():
		t.Error("a's lease was lost with one etcd member of three")
	default:
	}
}

// TestWatchLiveResumes cuts a watching instance off etcd (the only member
// it talks to is killed) while the others commit and compact the history
// it missed: once the member is back, WatchLive delivers the latest color
// (never an older one), then the next commits in order.
func TestWatchLiveResumes(t *testing.T) {
	ms := etcdtest.Start(t, 3)
	eps := etcdtest.Endpoints(ms)
	s, err := etcd.Open(t.Context(), etcd.Options{Endpoints: eps[:2], Prefix: "/t/", RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Its lease must outlive the cut: it is not what this test is about.
	w, err := Join(t.Context(), Options{Client: newClient(t, eps[2:]), Prefix: "/t/", ID: "w", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSoon(w) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rev := commitLive(t, s, bluegreen.Blue)
	ch := w.WatchLive(ctx, s.Prefix()+"state")
	if l := recv(t, ch); l.Revision != rev {
		t.Fatalf("first delivery %+v, want revision %d", l, rev)
	}

	ms[2].Kill()
	for _, c := range []bluegreen.Color{bluegreen.Green, bluegreen.Blue, bluegreen.Green} {
		rev = commitLive(t, s, c)
	}
	other := newClient(t, eps[:2])
	resp, err := other.Get(t.Context(), s.Prefix()+"state")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Compact(t.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	ms[2].Restart(t)
	if l := recv(t, ch); l.Revision != rev || l.Color != bluegreen.Green {
		t.Fatalf("after the cut, WatchLive delivered %+v; want the latest, green at revision %d", l, rev)
	}
	for _, c := range []bluegreen.Color{bluegreen.Blue, bluegreen.Green} {
		rev = commitLive(t, s, c)
		if l := recv(t, ch); l.Revision != rev || l.Color != c {
			t.Fatalf("after the resume, WatchLive delivered %+v; want %s at revision %d", l, c, rev)
		}
	}
}
