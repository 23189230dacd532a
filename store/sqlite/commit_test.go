package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
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

func TestFreshStoreLoadsRevisionZero(t *testing.T) {
	s := openStore(t, "")
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "fresh state", st, bluegreen.State{})
	evs, err := s.History(t.Context(), bluegreen.HistoryFilter{})
	if err != nil || len(evs) != 0 {
		t.Fatalf("fresh history = %v, %v; want nothing", evs, err)
	}
}

func TestCommitRoundTrip(t *testing.T) {
	s := openStore(t, "")
	ctx := t.Context()
	in := sampleState(0)
	at := time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("X", -7*60*60))
	events := []bluegreen.Event{
		{Time: at, Actor: "ada", Action: bluegreen.ActionSwitch, Color: bluegreen.Green, Outcome: bluegreen.OutcomeOK,
			Revision: 77, Message: "switched to green", Details: map[string]any{"forced": true, "ms": 1.5, "why": "test"}},
		{Actor: "bluegreen", Action: bluegreen.ActionDrain, Color: bluegreen.Blue, Outcome: bluegreen.OutcomeOK},
	}
	before := time.Now()
	committed, err := s.Commit(ctx, in, events...)
	if err != nil {
		t.Fatal(err)
	}
	want := utcWant(in, 1)
	assertEqual(t, "Commit result", committed, want)
	if in.Revision != 0 || in.Since.Location() == time.UTC {
		t.Errorf("Commit changed its argument: %+v", in)
	}
	loaded, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "Load after Commit", loaded, want)
	if loc := loaded.Since.Location(); loc != time.UTC {
		t.Errorf("Since location = %v, want UTC", loc)
	}

	// Commit filled in IDs, the revision and the missing time.
	if events[0].ID <= 0 || events[1].ID != events[0].ID+1 {
		t.Errorf("event IDs = %d, %d; want increasing by one", events[0].ID, events[1].ID)
	}
	for i, e := range events {
		if e.Revision != 1 {
			t.Errorf("event %d revision = %d, want 1", i, e.Revision)
		}
	}
	if e := events[1]; e.Time.Before(before.Add(-time.Second)) || e.Time.After(time.Now()) || e.Time.Location() != time.UTC {
		t.Errorf("zero event time became %v, want now in UTC", e.Time)
	}
	if !events[0].Time.Equal(at) || events[0].Time.Location() != time.UTC {
		t.Errorf("event time = %v, want %v in UTC", events[0].Time, at)
	}

	hist, err := s.History(ctx, bluegreen.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "History (newest first)", hist, []bluegreen.Event{events[1], events[0]})
	if hist[1].Time.Nanosecond() != 999999999 {
		t.Errorf("nanoseconds lost: %v", hist[1].Time)
	}

	// A second commit from the returned state moves to revision 2.
	next := committed.Clone()
	next.Live, next.Previous = bluegreen.Blue, bluegreen.Green
	c2, err := s.Commit(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Revision != 2 || c2.Live != bluegreen.Blue {
		t.Errorf("second commit = revision %d live %s, want 2 blue", c2.Revision, c2.Live)
	}
}

func TestCommitConflict(t *testing.T) {
	s := openStore(t, "")
	ctx := t.Context()
	base, err := s.Commit(ctx, sampleState(0))
	if err != nil {
		t.Fatal(err)
	}
	// Two writers read the same revision.
	a, b := base.Clone(), base.Clone()
	a.Live = bluegreen.Blue
	b.Previous = ""
	if _, err := s.Commit(ctx, a, bluegreen.Event{Actor: "a", Action: bluegreen.ActionSwitch}); err != nil {
		t.Fatalf("first commit: %v", err)
	}
	lost := []bluegreen.Event{{Actor: "b", Action: bluegreen.ActionRollback}}
	_, err = s.Commit(ctx, b, lost...)
	if !errors.Is(err, bluegreen.ErrConflict) {
		t.Fatalf("second commit from the same read: err = %v, want ErrConflict", err)
	}
	if code := bluegreen.ErrorCode(err); code != bluegreen.ECONFLICT {
		t.Errorf("conflict code = %q, want %q", code, bluegreen.ECONFLICT)
	}
	assertEqual(t, "events of the failed commit", lost, []bluegreen.Event{{Actor: "b", Action: bluegreen.ActionRollback}})

	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "state after conflict", got, utcWant(a, 2))
	hist, err := s.History(ctx, bluegreen.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Actor != "a" {
		t.Errorf("history after conflict = %+v, want only a's event", hist)
	}

	// A revision from the future conflicts too.
	if _, err := s.Commit(ctx, utcWant(a, 7)); !errors.Is(err, bluegreen.ErrConflict) {
		t.Errorf("commit at a future revision: err = %v, want ErrConflict", err)
	}
}

// TestConcurrentCommits runs writers on two Stores over one file (as two
// processes would) that read, change and commit with retries; no commit and
// no event may be lost or doubled.
func TestConcurrentCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	stores := []*Store{openStore(t, path), openStore(t, path)}
	ctx := t.Context()
	const writers, perWriter = 4, 8
	var (
		wg        sync.WaitGroup
		conflicts sync.Map
	)
	errs := make(chan error, writers)
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range perWriter {
				for attempt := 0; ; attempt++ {
					st, err := s.Load(ctx)
					if err != nil {
						errs <- err
						return
					}
					next := st.Clone()
					if next.Colors == nil {
						next.Colors = map[bluegreen.Color]bluegreen.ColorState{}
					}
					cs := next.Colors[bluegreen.Blue]
					cs.Upstreams = append(cs.Upstreams, fmt.Sprintf("w%d-%d", w, i))
					next.Colors[bluegreen.Blue] = cs
					_, err = s.Commit(ctx, next, bluegreen.Event{Actor: fmt.Sprintf("w%d", w),
						Action: bluegreen.ActionConfig, Message: fmt.Sprintf("w%d-%d", w, i)})
					if errors.Is(err, bluegreen.ErrConflict) {
						conflicts.Store(w, true)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const total = writers * perWriter
	st, err := stores[0].Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != total {
		t.Errorf("revision = %d, want %d", st.Revision, total)
	}
	if n := len(st.Colors[bluegreen.Blue].Upstreams); n != total {
		t.Errorf("state holds %d changes, want %d (a commit overwrote another)", n, total)
	}
	hist, err := stores[1].History(ctx, bluegreen.HistoryFilter{Limit: MaxHistoryLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != total {
		t.Fatalf("history has %d events, want %d", len(hist), total)
	}
	seen := map[string]bool{}
	for i, e := range hist {
		if want := int64(total - i); e.Revision != want {
			t.Errorf("event %d (id %d) has revision %d, want %d", i, e.ID, e.Revision, want)
		}
		if seen[e.Message] {
			t.Errorf("event %q stored twice", e.Message)
		}
		seen[e.Message] = true
	}
	t.Logf("writers that hit a conflict and retried: %d", countMap(&conflicts))
}

func countMap(m *sync.Map) (n int) {
	m.Range(func(any, any) bool { n++; return true })
	return n
}

func TestCommitCancelledContext(t *testing.T) {
	s := openStore(t, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Commit(ctx, sampleState(0), bluegreen.Event{Action: bluegreen.ActionInit}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context: err = %v, want context.Canceled", err)
	}
	if err := s.Append(ctx, bluegreen.Event{Action: bluegreen.ActionServe}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: err = %v, want context.Canceled", err)
	}
	st, err := s.Load(t.Context())
	if err != nil || st.Revision != 0 {
		t.Fatalf("after cancelled writes: revision %d, err %v; want 0, nil", st.Revision, err)
	}
	hist, err := s.History(t.Context(), bluegreen.HistoryFilter{})
	if err != nil || len(hist) != 0 {
		t.Fatalf("after cancelled writes: history %v, err %v; want empty", hist, err)
	}
}

// TestCommitWhileAnotherProcessWrites holds the write lock from another
// connection pool: Commit waits the busy timeout, then fails with EUNAVAILABLE
// and changes nothing; once the lock is released it succeeds.
func TestCommitWhileAnotherProcessWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openStore(t, path, WithBusyTimeout(50*time.Millisecond))
	ctx := t.Context()
	other := rawDB(t, path)
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Commit(ctx, sampleState(0))
	if code := bluegreen.ErrorCode(err); code != bluegreen.EUNAVAILABLE {
		t.Fatalf("Commit while locked: err = %v (code %q), want code %q", err, code, bluegreen.EUNAVAILABLE)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("Commit gave up after %v, want about the 50ms busy timeout", waited)
	}
	// Readers are not blocked by the writer (WAL).
	if st, err := s.Load(ctx); err != nil || st.Revision != 0 {
		t.Fatalf("Load while locked: revision %d, err %v; want 0, nil", st.Revision, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, sampleState(0)); err != nil {
		t.Fatalf("Commit after the lock was released: %v", err)
	}
}
