package sqlite

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// openStore opens a store at path (in a new temporary directory when path is
// empty) and closes it when the test ends.
func openStore(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "state.db")
	}
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawDB opens a second, independent connection pool on the store's file, as
// another process (or a person with the sqlite3 shell) would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(abs, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sampleState is a fully populated state read at revision rev, with times in
// a non-UTC zone and with nanoseconds.
func sampleState(rev int64) bluegreen.State {
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

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state")
	path := filepath.Join(dir, "state.db")
	s := openStore(t, path)
	if got := s.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	if _, err := s.Commit(t.Context(), sampleState(0)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode = %o, want 700", perm)
	}
	// With the store open after a commit, the WAL and shared-memory files exist.
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %o, want 600", filepath.Base(name), perm)
		}
	}

	db := rawDB(t, path)
	for pragma, want := range map[string]string{"journal_mode": "wal", "user_version": strconv.Itoa(len(migrations))} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestStorePragmas(t *testing.T) {
	s := openStore(t, "")
	// A CommitVisible turns synchronous off on the connection it borrows
	// and must turn it back on before the connection returns to the pool.
	if _, sync, err := s.CommitVisible(t.Context(), sampleState(0)); err != nil {
		t.Fatal(err)
	} else if err := sync(); err != nil {
		t.Fatal(err)
	}
	// Every pooled connection runs the DSN pragmas: check all at once, so
	// the one CommitVisible used is among them.
	conns := make([]*sql.Conn, maxConns)
	for i := range conns {
		c, err := s.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		for pragma, want := range map[string]int{"synchronous": 2, "foreign_keys": 1, "busy_timeout": int(DefaultBusyTimeout.Milliseconds()), "wal_autocheckpoint": 1000} {
			var got int
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("conn %d: PRAGMA %s = %d, want %d", i, pragma, got, want)
			}
		}
	}
}

// TestCommitVisible: a CommitVisible is seen at once by another store on the
// same file (another process would see the same), before and after its sync,
// and it takes part in compare-and-swap like Commit.
func TestCommitVisible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openStore(t, path)
	other := openStore(t, path)
	st, sync, err := s.CommitVisible(t.Context(), sampleState(0), bluegreen.Event{Actor: "ann", Action: bluegreen.ActionSwitch, Outcome: bluegreen.OutcomeOK})
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
	if _, _, err := s.CommitVisible(t.Context(), sampleState(0)); !errors.Is(err, bluegreen.ErrConflict) {
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

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?dir#%20", "st?ate#1%.db")
	s := openStore(t, path)
	if _, err := s.Commit(t.Context(), sampleState(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file is not where it was asked to be: %v", err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "st?ate#1%.db") {
			t.Errorf("unexpected file %q next to the store", e.Name())
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openStore(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("Open of a newer schema: err = %v, want one naming schema version 99", err)
	}
}

func TestOpenRefusesNonDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded")
	}
}

func TestClosedStoreFails(t *testing.T) {
	s := openStore(t, "")
	ctx := t.Context()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	_, loadErr := s.Load(ctx)
	_, commitErr := s.Commit(ctx, sampleState(0), bluegreen.Event{Action: bluegreen.ActionInit})
	appendErr := s.Append(ctx, bluegreen.Event{Action: bluegreen.ActionServe})
	emptyAppendErr := s.Append(ctx)
	_, historyErr := s.History(ctx, bluegreen.HistoryFilter{})
	for name, err := range map[string]error{"Load": loadErr, "Commit": commitErr, "Append": appendErr,
		"Append()": emptyAppendErr, "History": historyErr} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
		if code := bluegreen.ErrorCode(err); code != bluegreen.EUNAVAILABLE {
			t.Errorf("%s after Close: code = %q, want %q", name, code, bluegreen.EUNAVAILABLE)
		}
	}
}

func TestReopenKeepsStateAndHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	ctx := t.Context()
	s := openStore(t, path)
	committed, err := s.Commit(ctx, sampleState(0), bluegreen.Event{Actor: "ada", Action: bluegreen.ActionInit,
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

	s2 := openStore(t, path)
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
