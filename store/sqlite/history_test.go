package sqlite

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
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
	evs := storetest.SeedHistory(t, s, 1, 0) // and one through the store: it gets the next ID
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
	evs := storetest.SeedHistory(t, s, 3, 0)
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
	assertEqual(t, "history after refused edits", got, storetest.FilterEvents(evs, bluegreen.HistoryFilter{}))
}
