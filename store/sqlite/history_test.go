package sqlite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// seedHistory appends n events cycling through colors, actions and actors
// and returns them in append order with their IDs.
func seedHistory(t *testing.T, s *Store, n int) []bluegreen.Event {
	t.Helper()
	colors := []bluegreen.Color{bluegreen.Blue, bluegreen.Green, ""}
	actions := []bluegreen.Action{bluegreen.ActionSwitch, bluegreen.ActionHealth}
	actors := []string{"ada", "bob", "ci", "bluegreen"}
	evs := make([]bluegreen.Event, n)
	for i := range evs {
		evs[i] = bluegreen.Event{Actor: actors[i%len(actors)], Action: actions[i%len(actions)],
			Color: colors[i%len(colors)], Outcome: bluegreen.OutcomeOK, Message: fmt.Sprintf("event %d", i)}
	}
	if err := s.Append(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	return evs
}

// filterEvents is the reference implementation of HistoryFilter.
func filterEvents(evs []bluegreen.Event, f bluegreen.HistoryFilter) []bluegreen.Event {
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

func TestHistoryFilters(t *testing.T) {
	s := openStore(t, "")
	evs := seedHistory(t, s, 60)
	for i := 1; i < len(evs); i++ {
		if evs[i].ID != evs[i-1].ID+1 {
			t.Fatalf("IDs not assigned in order: %d after %d", evs[i].ID, evs[i-1].ID)
		}
	}
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
		want := filterEvents(evs, f)
		if len(want) == 0 && f.Actor != "nobody" {
			t.Fatalf("filter %+v matches nothing: the seed data is too thin", f)
		}
		assertEqual(t, fmt.Sprintf("History(%+v)", f), got, want)
	}
}

func TestHistoryPaging(t *testing.T) {
	s := openStore(t, "")
	evs := seedHistory(t, s, 47)
	want := filterEvents(evs, bluegreen.HistoryFilter{Color: bluegreen.Blue})
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

func TestHistoryLimits(t *testing.T) {
	s := openStore(t, "")
	// Seed in one statement: appending 10,005 events one by one is slow under -race.
	const n = MaxHistoryLimit + 5
	_, err := rawDB(t, s.Path()).Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO events (time, actor, action, color, outcome, revision, message)
		SELECT '2026-11-25T21:00:00.000000000Z', 'ci', 'health', 'blue', 'ok', 0, 'event ' || i FROM seq`, n)
	if err != nil {
		t.Fatal(err)
	}
	evs := seedHistory(t, s, 1) // and one through the store: it gets the next ID
	if evs[0].ID != n+1 {
		t.Fatalf("appended event got ID %d, want %d", evs[0].ID, n+1)
	}
	for _, tc := range []struct{ limit, want int }{
		{0, DefaultHistoryLimit}, {-1, DefaultHistoryLimit}, {7, 7},
		{MaxHistoryLimit + 1, MaxHistoryLimit},
	} {
		got, err := s.History(t.Context(), bluegreen.HistoryFilter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Limit %d returned %d events, want %d", tc.limit, len(got), tc.want)
		}
		if len(got) > 0 && got[0].ID != evs[len(evs)-1].ID {
			t.Errorf("Limit %d: first event has ID %d, want the newest (%d)", tc.limit, got[0].ID, evs[len(evs)-1].ID)
		}
	}
}

// TestHistoryIsAppendOnly edits the file directly, as a person with the
// sqlite3 shell would: the triggers refuse UPDATE and DELETE.
func TestHistoryIsAppendOnly(t *testing.T) {
	s := openStore(t, "")
	evs := seedHistory(t, s, 3)
	db := rawDB(t, s.Path())
	for _, stmt := range []string{
		"UPDATE events SET message = 'rewritten' WHERE id = " + fmt.Sprint(evs[0].ID),
		"UPDATE events SET outcome = 'failed'",
		"DELETE FROM events WHERE id = " + fmt.Sprint(evs[1].ID),
		"DELETE FROM events",
	} {
		_, err := db.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to refuse it", stmt, err)
		}
	}
	got, err := s.History(t.Context(), bluegreen.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "history after refused edits", got, filterEvents(evs, bluegreen.HistoryFilter{}))
}
