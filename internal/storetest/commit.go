package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func testFresh(t *testing.T, open func() Store, _ Options) {
	s := open()
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

func testCommitRoundTrip(t *testing.T, open func() Store, _ Options) {
	s := open()
	ctx := t.Context()
	in := SampleState(0)
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
	if len(hist) == 2 && hist[1].Time.Nanosecond() != 999999999 {
		t.Errorf("nanoseconds lost: %v", hist[1].Time)
	}

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

func testCommitConflict(t *testing.T, open func() Store, _ Options) {
	s := open()
	ctx := t.Context()
	base, err := s.Commit(ctx, SampleState(0))
	if err != nil {
		t.Fatal(err)
	}
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
	if _, err := s.Commit(ctx, utcWant(a, 7)); !errors.Is(err, bluegreen.ErrConflict) {
		t.Errorf("commit at a future revision: err = %v, want ErrConflict", err)
	}
}

// testConcurrentCommits runs writers on two Stores over one backing (as two
// processes would) that read, change and commit with retries, while another
// appends: no commit and no event may be lost or doubled.
func testConcurrentCommits(t *testing.T, open func() Store, _ Options) {
	stores := []Store{open(), open()}
	ctx := t.Context()
	const writers, perWriter, appends = 4, 8, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range perWriter {
				for {
					st, err := s.Load(ctx)
					if err != nil {
						errs <- err
						return
					}
					next := st.Clone()
					cs := next.Colors[bluegreen.Blue]
					cs.Upstreams = append(cs.Upstreams, fmt.Sprintf("w%d-%d", w, i))
					next.Colors[bluegreen.Blue] = cs
					_, err = s.Commit(ctx, next, bluegreen.Event{Actor: fmt.Sprintf("w%d", w),
						Action: bluegreen.ActionConfig, Message: fmt.Sprintf("w%d-%d", w, i)})
					if errors.Is(err, bluegreen.ErrConflict) {
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
	wg.Go(func() {
		for i := range appends {
			if err := stores[1].Append(ctx, bluegreen.Event{Actor: "appender", Action: bluegreen.ActionHealth,
				Message: fmt.Sprintf("a-%d", i)}); err != nil {
				errs <- err
				return
			}
		}
	})
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
	hist, err := stores[1].History(ctx, bluegreen.HistoryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != total+appends {
		t.Fatalf("history has %d events, want %d", len(hist), total+appends)
	}
	seen := map[string]bool{}
	lastRev := int64(total + 1)
	for i, e := range hist {
		if i > 0 && e.ID >= hist[i-1].ID {
			t.Errorf("event %d has ID %d after ID %d: want newest first, IDs unique", i, e.ID, hist[i-1].ID)
		}
		if e.Actor != "appender" {
			if e.Revision != lastRev-1 {
				t.Errorf("event %d (id %d) has revision %d, want %d", i, e.ID, e.Revision, lastRev-1)
			}
			lastRev = e.Revision
		}
		if seen[e.Message] {
			t.Errorf("event %q stored twice", e.Message)
		}
		seen[e.Message] = true
	}
}

func testCancelledContext(t *testing.T, open func() Store, _ Options) {
	s := open()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Commit(ctx, SampleState(0), bluegreen.Event{Action: bluegreen.ActionInit}); !errors.Is(err, context.Canceled) {
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

func testCommitVisible(t *testing.T, open func() Store, _ Options) {
	s, other := open(), open()
	vc, ok := s.(visibleCommitter)
	if !ok {
		t.Skip("the store has no CommitVisible")
	}
	st, sync, err := vc.CommitVisible(t.Context(), SampleState(0), bluegreen.Event{Actor: "ann", Action: bluegreen.ActionSwitch, Outcome: bluegreen.OutcomeOK})
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 1 || got.Live != bluegreen.Green || st.Revision != 1 {
		t.Fatalf("other store loaded revision %d live %s before the sync; committed revision %d", got.Revision, got.Live, st.Revision)
	}
	if err := sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if _, _, err := vc.CommitVisible(t.Context(), SampleState(0)); !errors.Is(err, bluegreen.ErrConflict) {
		t.Fatalf("CommitVisible at a stale revision: %v, want ErrConflict", err)
	}
	hist, err := other.History(t.Context(), bluegreen.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Actor != "ann" || hist[0].Revision != 1 {
		t.Fatalf("history = %+v, want the one event at revision 1", hist)
	}
}

func testClosed(t *testing.T, open func() Store, o Options) {
	s := open()
	ctx := t.Context()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	_, loadErr := s.Load(ctx)
	_, commitErr := s.Commit(ctx, SampleState(0), bluegreen.Event{Action: bluegreen.ActionInit})
	appendErr := s.Append(ctx, bluegreen.Event{Action: bluegreen.ActionServe})
	emptyAppendErr := s.Append(ctx)
	_, historyErr := s.History(ctx, bluegreen.HistoryFilter{})
	for name, err := range map[string]error{"Load": loadErr, "Commit": commitErr, "Append": appendErr,
		"Append()": emptyAppendErr, "History": historyErr} {
		if o.ErrClosed != nil && !errors.Is(err, o.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want %v", name, err, o.ErrClosed)
		}
		if code := bluegreen.ErrorCode(err); code != bluegreen.EUNAVAILABLE {
			t.Errorf("%s after Close: code = %q (%v), want %q", name, code, err, bluegreen.EUNAVAILABLE)
		}
	}
}

func testReopen(t *testing.T, open func() Store, _ Options) {
	ctx := t.Context()
	s := open()
	committed, err := s.Commit(ctx, SampleState(0), bluegreen.Event{Actor: "ada", Action: bluegreen.ActionInit,
		Color: bluegreen.Green, Outcome: bluegreen.OutcomeOK, Message: "created"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, bluegreen.Event{Actor: "bluegreen", Action: bluegreen.ActionServe,
		Outcome: bluegreen.OutcomeOK, Details: map[string]any{"pid": 12.0}}); err != nil {
		t.Fatal(err)
	}
	before, err := s.History(ctx, bluegreen.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open()
	got, err := s2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "reopened state", got, committed)
	after, err := s2.History(ctx, bluegreen.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 {
		t.Fatalf("reopened history has %d events, want 2", len(after))
	}
	assertEqual(t, "reopened history", after, before)
}
