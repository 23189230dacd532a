package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// putState writes a state with live and rev at key, as a Commit would.
func putState(t *testing.T, cli *clientv3.Client, key string, live bluegreen.Color, rev int64) {
	t.Helper()
	data, _ := json.Marshal(bluegreen.State{Live: live, Revision: rev})
	if _, err := cli.Put(t.Context(), key, string(data)); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next Live, failing after a few seconds.
func recv(t *testing.T, ch <-chan Live) Live {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatal("WatchLive's channel closed")
		}
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("WatchLive delivered nothing within 5s")
		return Live{}
	}
}

// TestWatchLive sees the current state, then every commit in order, with
// a reader slower than the writer; the channel closes when ctx ends.
func TestWatchLive(t *testing.T) {
	eps := oneMember(t)
	n := joinN(t, eps, 1)[0]
	key := "/t/state"
	putState(t, n.cli, key, bluegreen.Blue, 1)
	ctx, cancel := context.WithCancel(t.Context())
	ch := n.WatchLive(ctx, key)
	if l := recv(t, ch); l.Color != bluegreen.Blue || l.Revision != 1 {
		t.Fatalf("first delivery %+v, want blue at revision 1", l)
	}
	const commits = 50
	go func() {
		for rev := int64(2); rev <= commits; rev++ {
			putState(t, n.cli, key, []bluegreen.Color{bluegreen.Blue, bluegreen.Green}[rev%2], rev)
		}
	}()
	last := int64(0)
	for rev := int64(2); rev <= commits; rev++ {
		l := recv(t, ch)
		if want := []bluegreen.Color{bluegreen.Blue, bluegreen.Green}[rev%2]; l.Revision != rev || l.Color != want {
			t.Fatalf("delivery %+v, want %s at revision %d (in order, none missed)", l, want, rev)
		}
		if l.ModRevision <= last {
			t.Fatalf("ModRevision %d after %d", l.ModRevision, last)
		}
		last = l.ModRevision
		if rev%10 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow reader
		}
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("WatchLive delivered after its ctx ended")
		}
	case <-time.After(2 * time.Second):
		t.Error("WatchLive's channel stayed open after its ctx ended")
	}
}

// TestWaitAcks names the live instance that did not acknowledge within the
// deadline, returns as soon as all have, and stops waiting for a crashed
// one once its lease expired.
func TestWaitAcks(t *testing.T) {
	nodes := joinN(t, oneMember(t), 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range []node{a, b} {
		if err := n.Ack(t.Context(), bluegreen.Green, 5, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	acks, err := a.WaitAcks(t.Context(), 5, time.Now().Add(300*time.Millisecond))
	if err != nil || !slices.Equal(acks.Acked, []string{"a", "b"}) || !slices.Equal(acks.Missing, []string{"c"}) {
		t.Fatalf("WaitAcks = %+v, %v; want a, b acked and c missing", acks, err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("WaitAcks returned after %v, want at the 300ms deadline", took)
	}
	if m := c.Self(); m.Revision != 0 || m.Color != "" {
		t.Errorf("c's record %+v, want no acknowledgement", m)
	}

	go func() {
		time.Sleep(100 * time.Millisecond)
		c.Ack(context.Background(), bluegreen.Green, 6, time.Time{})
	}()
	start = time.Now()
	acks, err = a.WaitAcks(t.Context(), 5, time.Now().Add(10*time.Second))
	if err != nil || len(acks.Missing) != 0 || len(acks.Acked) != 3 {
		t.Fatalf("WaitAcks = %+v, %v; want all three (a later revision counts)", acks, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("WaitAcks took %v after the last ack, want at once", took)
	}
	ms, _ := a.Members(t.Context())
	if ms[1].Color != bluegreen.Green || ms[1].Revision != 5 {
		t.Errorf("b's record %+v, want green at revision 5", ms[1])
	}

	c.crash()
	acks, err = a.WaitAcks(t.Context(), 7, time.Now().Add(testTTL+2*time.Second))
	if err != nil || !slices.Equal(acks.Missing, []string{"a", "b"}) {
		t.Fatalf("WaitAcks = %+v, %v; want a and b missing, c gone", acks, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := a.WaitAcks(ctx, 7, time.Now().Add(time.Second)); err == nil {
		t.Error("WaitAcks with an ended ctx returned no error")
	}
}
