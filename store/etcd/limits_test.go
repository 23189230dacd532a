package etcd

import (
	"fmt"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// TestTooManyEventsInOneWrite: etcd caps a transaction's operations (128 by
// default), so a write of 200 events fails as EINVALID, naming the store,
// and stores nothing.
func TestTooManyEventsInOneWrite(t *testing.T) {
	s := openStore(t, etcdtest.Endpoints(etcdtest.Start(t, 1)), "/limits/")
	evs := make([]bluegreen.Event, 200)
	for i := range evs {
		evs[i] = bluegreen.Event{Actor: "ci", Action: bluegreen.ActionHealth, Message: fmt.Sprint(i)}
	}
	_, err := s.Commit(t.Context(), storetest.SampleState(0), evs...)
	if msg := bluegreen.ErrorMessage(err); bluegreen.ErrorCode(err) != bluegreen.EINVALID || !strings.Contains(msg, "etcd state store") {
		t.Fatalf("Commit of 200 events: %v (shown as %q), want EINVALID naming the store", err, msg)
	}
	if err := s.Append(t.Context(), evs...); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Fatalf("Append of 200 events: %v, want EINVALID", err)
	}
	if evs[0].ID != 0 {
		t.Errorf("a failed write set event IDs")
	}
	st, err := s.Load(t.Context())
	if err != nil || st.Revision != 0 {
		t.Fatalf("after the failed writes: revision %d, %v; want 0", st.Revision, err)
	}
	if hist, err := s.History(t.Context(), bluegreen.HistoryFilter{}); err != nil || len(hist) != 0 {
		t.Fatalf("after the failed writes: %d events, %v; want none", len(hist), err)
	}
}

// TestEventsAreWrittenOnce checks the history's keys after concurrent
// commits and appends from two stores: every event key was written exactly
// once (etcd's version 1), and the IDs have no gaps.
func TestEventsAreWrittenOnce(t *testing.T) {
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	a, b := openStore(t, eps, "/once/"), openStore(t, eps, "/once/")
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		go func() {
			for j := range 20 {
				if err := s.Append(t.Context(), bluegreen.Event{Actor: fmt.Sprint(i), Message: fmt.Sprint(j)},
					bluegreen.Event{Actor: fmt.Sprint(i), Message: fmt.Sprint(j, "b")}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	resp, err := a.cli.Get(t.Context(), a.key(historyPrefix), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 80 {
		t.Fatalf("%d event keys, want 80", len(resp.Kvs))
	}
	for i, kv := range resp.Kvs {
		if kv.Version != 1 {
			t.Errorf("event key %s was written %d times, want once", kv.Key, kv.Version)
		}
		if want := a.eventKey(int64(i + 1)); string(kv.Key) != want {
			t.Errorf("event key %d is %s, want %s (IDs without gaps)", i, kv.Key, want)
		}
	}
}
