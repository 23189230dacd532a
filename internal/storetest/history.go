package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// SeedHistory appends n events to s, cycling through colors, actions and
// actors, in writes of at most perWrite events (0: all in one), checks that
// their IDs increase by one, and returns them in append order with their
// IDs. It fails the test on an error.
func SeedHistory(t *testing.T, s bluegreen.Store, n, perWrite int) []bluegreen.Event {
	t.Helper()
	colors := []bluegreen.Color{bluegreen.Blue, bluegreen.Green, ""}
	actions := []bluegreen.Action{bluegreen.ActionSwitch, bluegreen.ActionHealth}
	actors := []string{"ada", "bob", "ci", "bluegreen"}
	evs := make([]bluegreen.Event, n)
	for i := range evs {
		evs[i] = bluegreen.Event{Actor: actors[i%len(actors)], Action: actions[i%len(actions)],
			Color: colors[i%len(colors)], Outcome: bluegreen.OutcomeOK, Message: fmt.Sprintf("event %d", i)}
	}
	step := perWrite
	if step <= 0 {
		step = n
	}
	for i := 0; i < n; i += step {
		if err := s.Append(t.Context(), evs[i:min(i+step, n)]...); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID != evs[i-1].ID+1 {
			t.Fatalf("IDs not assigned in order: %d after %d", evs[i].ID, evs[i-1].ID)
		}
	}
	return evs
}

// FilterEvents is the reference implementation of HistoryFilter's Color,
// Action, Actor and BeforeID on evs in append order: the matching events,
// newest first, without a limit.
func FilterEvents(evs []bluegreen.Event, f bluegreen.HistoryFilter) []bluegreen.Event {
	var out []bluegreen.Event
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if (f.Color == "" || e.Color == f.Color) && (f.Action == "" || e.Action == f.Action) &&
			(f.Actor == "" || e.Actor == f.Actor) && (f.BeforeID == 0 || e.ID < f.BeforeID) {
			out = append(out, e)
		}
	}
	return out
}

func testHistoryFilters(t *testing.T, open func() Store, o Options) {
	s := open()
	evs := SeedHistory(t, s, 60, o.MaxEventsPerWrite)
	mid := evs[30].ID
	for _, f := range []bluegreen.HistoryFilter{
		{},
		{Color: bluegreen.Green},
		{Action: bluegreen.ActionHealth},
		{Actor: "ci"},
		{Color: bluegreen.Blue, Action: bluegreen.ActionSwitch},
		{Color: bluegreen.Blue, Actor: "ada"},
		{Color: bluegreen.Green, Action: bluegreen.ActionHealth, Actor: "bob"},
		{BeforeID: mid},
		{Actor: "bluegreen", BeforeID: mid},
		{Actor: "nobody"},
	} {
		got, err := s.History(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		want := FilterEvents(evs, f)
		if len(want) == 0 && f.Actor != "nobody" {
			t.Fatalf("filter %+v matches nothing: the seed data is too thin", f)
		}
		assertEqual(t, fmt.Sprintf("History(%+v)", f), got, want)
	}
}

func testHistoryPaging(t *testing.T, open func() Store, o Options) {
	s := open()
	evs := SeedHistory(t, s, 47, o.MaxEventsPerWrite)
	want := FilterEvents(evs, bluegreen.HistoryFilter{Color: bluegreen.Blue})
	var got []bluegreen.Event
	f := bluegreen.HistoryFilter{Color: bluegreen.Blue, Limit: 5}
	for pages := 0; ; pages++ {
		if pages > len(evs) {
			t.Fatal("paging does not end")
		}
		page, err := s.History(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > f.Limit {
			t.Fatalf("page of %d events, limit %d", len(page), f.Limit)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		f.BeforeID = page[len(page)-1].ID
	}
	assertEqual(t, "all pages", got, want)
}

// testHistoryLimits checks the default limit (100) on a history longer
// than it; the cap of large limits (10,000) is the backend's own test.
func testHistoryLimits(t *testing.T, open func() Store, o Options) {
	s := open()
	const n = 130
	evs := SeedHistory(t, s, n, o.MaxEventsPerWrite)
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {7, 7}, {1000, n}} {
		got, err := s.History(t.Context(), bluegreen.HistoryFilter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Limit %d returned %d events, want %d", tc.limit, len(got), tc.want)
		}
		if len(got) > 0 && got[0].ID != evs[n-1].ID {
			t.Errorf("Limit %d: first event has ID %d, want the newest (%d)", tc.limit, got[0].ID, evs[n-1].ID)
		}
	}
}

func testHistoryOutcomeAndTime(t *testing.T, open func() Store, _ Options) {
	ctx := t.Context()
	s := open()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	evs := []bluegreen.Event{
		{Time: t0, Actor: "a", Action: bluegreen.ActionSwitch, Color: bluegreen.Green, Outcome: bluegreen.OutcomeOK, Message: "1"},
		{Time: t0.Add(time.Minute), Actor: "a", Action: bluegreen.ActionSwitch, Color: bluegreen.Blue, Outcome: bluegreen.OutcomeRefused, Message: "2"},
		{Time: t0.Add(2 * time.Minute), Actor: "b", Action: bluegreen.ActionDeploy, Color: bluegreen.Blue, Outcome: bluegreen.OutcomeFailed, Message: "3"},
	}
	if err := s.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	msgs := func(f bluegreen.HistoryFilter) string {
		got, err := s.History(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, e := range got {
			out += e.Message
		}
		return out
	}
	for _, c := range []struct {
		f    bluegreen.HistoryFilter
		want string
	}{
		{bluegreen.HistoryFilter{Outcome: bluegreen.OutcomeRefused}, "2"},
		{bluegreen.HistoryFilter{Since: t0.Add(time.Minute)}, "32"},
		{bluegreen.HistoryFilter{Until: t0.Add(time.Minute)}, "1"},
		{bluegreen.HistoryFilter{Since: t0.Add(30 * time.Second), Until: t0.Add(90 * time.Second)}, "2"},
		{bluegreen.HistoryFilter{Action: bluegreen.ActionSwitch, Outcome: bluegreen.OutcomeOK}, "1"},
	} {
		if got := msgs(c.f); got != c.want {
			t.Errorf("%+v: got events %q, want %q", c.f, got, c.want)
		}
	}
}
