package etcd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// commitOne reads the state and commits one more revision with an event.
func commitOne(ctx context.Context, s *Store, msg string) (bluegreen.State, error) {
	st, err := s.Load(ctx)
	if err != nil {
		return st, err
	}
	next := st.Clone()
	next.Live = bluegreen.Blue
	return s.Commit(ctx, next, bluegreen.Event{Actor: "test", Action: bluegreen.ActionConfig, Message: msg})
}

// commitSoon commits one revision, retrying while the cluster elects a new
// leader after a member was killed (a few election timeouts, well under
// the deadline); then the next commits must succeed at the first try.
func commitSoon(t *testing.T, s *Store, msg string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := commitOne(t.Context(), s, msg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: commits still fail 15s after losing one member of three: %v", msg, err)
		}
		t.Logf("%s: retrying after %v", msg, err)
	}
	for i := range 3 {
		if _, err := commitOne(t.Context(), s, fmt.Sprintf("%s, then %d", msg, i)); err != nil {
			t.Fatalf("%s: commit %d after the cluster recovered: %v", msg, i, err)
		}
	}
}

// leader returns the index in ms of the member that is the cluster's leader.
func leader(t *testing.T, s *Store, ms []*etcdtest.Member) int {
	t.Helper()
	for _, m := range ms {
		if m.Dead() {
			continue
		}
		st, err := s.cli.Status(t.Context(), m.ClientURL)
		if err != nil {
			continue
		}
		for j, o := range ms {
			ost, err := s.cli.Status(t.Context(), o.ClientURL)
			if err == nil && ost.Header.MemberId == st.Leader {
				return j
			}
		}
	}
	t.Fatal("no member knows the leader")
	return -1
}

// TestThreeMembers kills (SIGKILL) one member of a three-member cluster, a
// follower or the leader: the store keeps committing on the other two with
// nothing lost or doubled. Then it kills a second member: commits, appends
// and reads fail within the request timeout with EUNAVAILABLE and the
// store named.
func TestThreeMembers(t *testing.T) {
	for _, killLeader := range []bool{false, true} {
		name := map[bool]string{false: "follower", true: "leader"}[killLeader]
		t.Run(name, func(t *testing.T) { testThreeMembers(t, killLeader) })
	}
}

func testThreeMembers(t *testing.T, killLeader bool) {
	ms := etcdtest.Start(t, 3)
	s, err := Open(t.Context(), Options{Endpoints: etcdtest.Endpoints(ms), Prefix: "/quorum/", RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	commitSoon(t, s, "all three members up")

	dead := leader(t, s, ms)
	if !killLeader {
		dead = (dead + 1) % len(ms)
	}
	ms[dead].Kill()
	t.Logf("killed %s (leader: %v)", ms[dead].Name, killLeader)
	commitSoon(t, s, "one member killed")
	before, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(8); before.Revision != want {
		t.Errorf("revision after the member's death = %d, want %d (a commit was lost or doubled)", before.Revision, want)
	}
	hist, err := s.History(t.Context(), bluegreen.HistoryFilter{})
	if err != nil || len(hist) != 8 {
		t.Fatalf("history after the member's death: %d events, %v; want 8", len(hist), err)
	}

	second := (dead + 1) % len(ms)
	ms[second].Kill()
	t.Logf("killed %s too: no quorum", ms[second].Name)
	start := time.Now()
	_, err = s.Commit(t.Context(), before, bluegreen.Event{Actor: "test", Action: bluegreen.ActionSwitch})
	took := time.Since(start)
	if code := bluegreen.ErrorCode(err); code != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "state store unreachable") {
		t.Fatalf("Commit without quorum: err = %v (code %q), want %q naming the store", err, code, bluegreen.EUNAVAILABLE)
	}
	if took > 5*time.Second {
		t.Errorf("Commit without quorum took %v to fail, want about the 2s request timeout", took)
	}
	if msg := bluegreen.ErrorMessage(err); !strings.HasPrefix(msg, "state store unreachable: etcd at ") {
		t.Errorf("the message a caller is shown = %q, want it to name the store", msg)
	}
	if _, err := s.Load(t.Context()); bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE {
		t.Errorf("Load without quorum: %v, want EUNAVAILABLE", err)
	}
	if err := s.Append(t.Context(), bluegreen.Event{Actor: "test", Action: bluegreen.ActionServe}); bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE {
		t.Errorf("Append without quorum: %v, want EUNAVAILABLE", err)
	}
}

// TestOpenUnreachable opens a store on a port nobody listens on: Open fails
// within its dial timeout, with EUNAVAILABLE and the store named.
func TestOpenUnreachable(t *testing.T) {
	ep := fmt.Sprintf("http://127.0.0.1:%d", etcdtest.FreePorts(t, 1)[0])
	start := time.Now()
	s, err := Open(t.Context(), Options{Endpoints: []string{ep}, DialTimeout: 500 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open of an endpoint nobody listens on succeeded")
	}
	if msg := bluegreen.ErrorMessage(err); bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(msg, "state store unreachable: etcd at "+ep) {
		t.Errorf("Open: err = %v (shown as %q), want EUNAVAILABLE naming the store", err, msg)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Open took %v to fail, want about the 500ms dial timeout", took)
	}
	if _, err := Open(t.Context(), Options{}); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("Open without endpoints: %v, want EINVALID", err)
	}
}

// TestPrefixesAreSeparate keeps two installations apart on one cluster.
func TestPrefixesAreSeparate(t *testing.T) {
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	a, b := openStore(t, eps, "/a"), openStore(t, eps, "/ab/")
	if _, err := a.Commit(t.Context(), storetest.SampleState(0), bluegreen.Event{Action: bluegreen.ActionInit}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Load(t.Context())
	if err != nil || st.Revision != 0 {
		t.Fatalf("the other prefix sees revision %d, %v; want a fresh state", st.Revision, err)
	}
	if hist, err := b.History(t.Context(), bluegreen.HistoryFilter{}); err != nil || len(hist) != 0 {
		t.Fatalf("the other prefix's history: %v, %v; want empty", hist, err)
	}
	if a.Prefix() != "/a/" {
		t.Errorf("Prefix() = %q, want the trailing slash added", a.Prefix())
	}
}
