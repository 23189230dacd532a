// Package storetest is the contract of bluegreen.Store and
// bluegreen.TokenStore written as tests: Run runs the same tests against any
// implementation (store/sqlite and store/etcd run it), so that the stores
// stay interchangeable. Only tests import it.
package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Store is what the suite tests: the state store and the token store.
type Store interface {
	bluegreen.Store
	bluegreen.TokenStore
}

// visibleCommitter is the optional two-step commit (sqlite.Store and
// etcd.Store have it; the controller finds it by type assertion).
type visibleCommitter interface {
	CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, func() error, error)
}

// Backend makes a new, empty backing store for one test (a file, an etcd
// key prefix) and returns open, which opens a new Store on that backing each
// time it is called, as another process would. open must fail the test
// when it cannot open, and close the Store it returns when the test ends;
// closing it earlier (the suite does) must be harmless.
type Backend func(t *testing.T) (open func() Store)

// Options tune the suite to a backend's documented limits.
type Options struct {
	// MaxEventsPerWrite is the most events the backend accepts in one
	// Commit or Append (etcd caps the operations of one transaction); 0
	// means no limit. The suite seeds larger histories in several writes.
	MaxEventsPerWrite int
	// ErrClosed is what the backend's calls after Close wrap.
	ErrClosed error
}

// Run runs every contract test against b, each as a subtest on a fresh
// backing store.
func Run(t *testing.T, b Backend, o Options) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() Store, Options)
	}{
		{"FreshStoreLoadsRevisionZero", testFresh},
		{"CommitRoundTrip", testCommitRoundTrip},
		{"CommitConflict", testCommitConflict},
		{"ConcurrentCommits", testConcurrentCommits},
		{"CommitCancelledContext", testCancelledContext},
		{"CommitVisible", testCommitVisible},
		{"ClosedStoreFails", testClosed},
		{"ReopenKeepsStateAndHistory", testReopen},
		{"HistoryFilters", testHistoryFilters},
		{"HistoryPaging", testHistoryPaging},
		{"HistoryLimits", testHistoryLimits},
		{"HistoryFiltersByOutcomeAndTime", testHistoryOutcomeAndTime},
		{"Tokens", testTokens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b(t), o) })
	}
}

func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// SampleState is a fully populated state read at revision rev, with times
// in a non-UTC zone and with nanoseconds: what a store must return in UTC,
// to the nanosecond.
func SampleState(rev int64) bluegreen.State {
	zone := time.FixedZone("CEST", 2*60*60)
	at := time.Date(2026, 11, 25, 21, 30, 15, 123456789, zone)
	return bluegreen.State{
		Revision: rev,
		Live:     bluegreen.Green,
		Previous: bluegreen.Blue,
		Since:    at,
		Colors: map[bluegreen.Color]bluegreen.ColorState{
			bluegreen.Blue: {
				Upstreams: []string{"127.0.0.1:9001", "127.0.0.1:9002"},
				Branch:    "main",
				Health:    bluegreen.Health{Status: bluegreen.HealthUnhealthy, Reason: "status 500, want 200", Since: at.Add(time.Nanosecond)},
			},
			bluegreen.Green: {
				Upstreams: []string{"127.0.0.1:9101"},
				Branch:    "main",
				Release: &bluegreen.Release{SHA: "0123456789abcdef", Ref: "refs/heads/main", Subject: "Fix the thing",
					Author: "Ada", DeployedBy: "ci#42", DeployedAt: at.Add(-time.Minute)},
				Health: bluegreen.Health{Status: bluegreen.HealthHealthy},
			},
		},
	}
}

// utcWant is the state Load should return for s committed at revision rev.
func utcWant(s bluegreen.State, rev int64) bluegreen.State {
	w := s.Clone()
	w.Revision = rev
	w.Since = w.Since.UTC()
	for c, cs := range w.Colors {
		cs.Health.Since = cs.Health.Since.UTC()
		if cs.Release != nil {
			cs.Release.DeployedAt = cs.Release.DeployedAt.UTC()
		}
		w.Colors[c] = cs
	}
	return w
}
