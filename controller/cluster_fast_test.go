package controller_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// fakeCluster answers WaitAcks with acks (and err), and Instances with
// instances, recording the revisions it was asked to wait for.
type fakeCluster struct {
	acks      bluegreen.RouterAcks
	err       error
	instances []bluegreen.Instance
	waited    []int64
}

func (c *fakeCluster) WaitAcks(_ context.Context, rev int64) (bluegreen.RouterAcks, error) {
	c.waited = append(c.waited, rev)
	return c.acks, c.err
}

func (c *fakeCluster) Instances(context.Context) ([]bluegreen.Instance, error) {
	return c.instances, nil
}

// TestFastSwitchWaitsForRouters: with several instances, a switch waits
// for their routers at the committed revision, reports who took the color,
// and records (failed) the routers that did not confirm; the switch stands.
func TestFastSwitchWaitsForRouters(t *testing.T) {
	cl := &fakeCluster{acks: bluegreen.RouterAcks{Acked: []string{"r1", "r2"}, Missing: []string{"r3"}, SpreadMS: 4}}
	f := newFast(t, func(o *controller.Options) { o.Deploy = nil; o.Cluster = cl })
	res, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.waited) != 1 || cl.waited[0] != res.Revision {
		t.Errorf("waited for revisions %v; want [%d]", cl.waited, res.Revision)
	}
	if res.Routers == nil || strings.Join(res.Routers.Acked, ",") != "r1,r2" || strings.Join(res.Routers.Missing, ",") != "r3" {
		t.Fatalf("result's routers %+v; want r1, r2 acked and r3 missing", res.Routers)
	}
	if !strings.Contains(res.Message, "2 router(s) serve green (spread 4.0 ms), r3 did not confirm") {
		t.Errorf("message %q; want the routers named", res.Message)
	}
	if f.ctl.State().Live != bluegreen.Green || f.router.serving() != bluegreen.Green {
		t.Error("the switch did not stand")
	}
	for _, e := range f.store.all() {
		if e.Action == bluegreen.ActionSwitch && e.Outcome == bluegreen.OutcomeOK && e.Details["instance"] != "test" {
			t.Errorf("switch event's details %v; want the instance that switched", e.Details)
		}
	}
	sw := f.events(bluegreen.ActionSwitch)
	if len(sw) != 2 || !strings.HasPrefix(sw[1], "failed: router(s) r3 did not confirm serving green (revision ") {
		t.Errorf("switch events %q; want the switch, then the missing router recorded", sw)
	}

	// The store unreachable while waiting: said so, the switch stands.
	cl.err, cl.acks = errors.New("state store unreachable: etcd"), bluegreen.RouterAcks{}
	if _, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Blue, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	sw = f.events(bluegreen.ActionSwitch)
	if last := sw[len(sw)-1]; !strings.Contains(last, "could not read which routers serve blue") || !strings.Contains(last, "state store unreachable: etcd") {
		t.Errorf("last switch event %q; want the store's error", last)
	}
}

// TestFastStatusListsInstances: Status carries the store's status and the
// instances the cluster lists.
func TestFastStatusListsInstances(t *testing.T) {
	since := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	cl := &fakeCluster{instances: []bluegreen.Instance{{ID: "r1", Role: bluegreen.RoleLeader}, {ID: "r2", Role: bluegreen.RoleFollower}}}
	f := newFast(t, func(o *controller.Options) {
		o.Cluster = cl
		o.StoreStatus = func() bluegreen.StoreStatus {
			return bluegreen.StoreStatus{Kind: "etcd", Where: "etcd://127.0.0.1:2379/bg", UnreachableSince: &since, Error: "deadline"}
		}
	})
	st, err := f.ctl.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 2 || st.Instances[0].ID != "r1" || st.Instances[1].Role != bluegreen.RoleFollower {
		t.Errorf("instances %+v", st.Instances)
	}
	if st.Store == nil || st.Store.Kind != "etcd" || !st.Store.UnreachableSince.Equal(since) {
		t.Errorf("store %+v", st.Store)
	}
}

// racingStore commits someone else's state just before the first commit
// it is asked for, as another instance starting at the same time would.
type racingStore struct {
	*memStore
	raced bool
}

func (s *racingStore) Commit(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	if !s.raced {
		s.raced = true
		other := bluegreen.State{Live: bluegreen.Green, Colors: map[bluegreen.Color]bluegreen.ColorState{}}
		if _, err := s.memStore.Commit(ctx, other, bluegreen.Event{Action: bluegreen.ActionInit, Message: "the other instance"}); err != nil {
			return bluegreen.State{}, err
		}
	}
	return s.memStore.Commit(ctx, next, events...)
}

// TestFastBootstrapRace: an instance whose first commit of a fresh state
// loses to another's takes the winner's state (and its live color) and
// records its configuration on top.
func TestFastBootstrapRace(t *testing.T) {
	store := &racingStore{memStore: &memStore{}}
	specs := map[bluegreen.Color]controller.ColorSpec{bluegreen.Blue: {Branch: "blue", Upstreams: []string{"127.0.0.1:1"}},
		bluegreen.Green: {Branch: "green", Upstreams: []string{"127.0.0.1:2"}}}
	st, err := controller.Bootstrap(t.Context(), store, bluegreen.Blue, specs, time.Now())
	if err != nil {
		t.Fatalf("Bootstrap after losing the race: %v", err)
	}
	if st.Live != bluegreen.Green || st.Revision != 2 || st.Colors[bluegreen.Blue].Branch != "blue" {
		t.Errorf("state %+v; want the winner's live green with this configuration at revision 2", st)
	}
}

// staleStore answers Load with a state read before the controller's last
// commit, as a follower's read can be overtaken on a new leader.
type staleStore struct {
	*memStore
	stale bluegreen.State
}

func (s *staleStore) Load(context.Context) (bluegreen.State, error) { return s.stale.Clone(), nil }

// TestFastRefreshNeverGoesBack: Refresh keeps the state held when the
// store answers with an older revision.
func TestFastRefreshNeverGoesBack(t *testing.T) {
	ss := &staleStore{}
	f := newFast(t, func(o *controller.Options) {
		o.Deploy = nil
		ss.memStore = o.Store.(*memStore)
		o.Store = ss
	})
	ss.stale = f.ctl.State()
	if _, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	st, err := f.ctl.Refresh(t.Context())
	if err != nil || st.Live != bluegreen.Green || f.ctl.State().Live != bluegreen.Green || st.Revision <= ss.stale.Revision {
		t.Errorf("Refresh = %+v, %v; held %s; want the newer state kept", st, err, f.ctl.State().Live)
	}
}
