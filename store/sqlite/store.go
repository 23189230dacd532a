// Package sqlite implements bluegreen.Store on an embedded SQLite file
// (modernc.org/sqlite: pure Go, no cgo).
//
// The file uses WAL with synchronous=FULL, so a Commit or Append that
// returned nil is on disk: a kill -9 (or a power cut) right after loses
// nothing. The committed state is one row holding its revision and its JSON;
// the history is an events table that triggers keep append-only.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/bluegreen/bluegreen"
)

// Store is a bluegreen.Store on an SQLite file. It is safe for concurrent
// use; writes are serialised by SQLite (BEGIN IMMEDIATE).
type Store struct {
	db   *sql.DB
	path string
}

var _ bluegreen.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0600, parent directory 0700) the
// store at path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	// Create the file ourselves so its mode is 0600 from the first byte.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	f.Close()

	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing %s: %w", path, err)
	}
	// The WAL and shared-memory files hold state too: keep them private.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// Path returns the file the store was opened at.
func (s *Store) Path() string { return s.path }

// Close closes the database. Calls after Close return an error.
func (s *Store) Close() error { return s.db.Close() }

// migrations are applied in order; PRAGMA user_version counts those done.
var migrations = []string{
	`CREATE TABLE state (
		id       INTEGER PRIMARY KEY CHECK (id = 1),
		revision INTEGER NOT NULL,
		data     TEXT NOT NULL
	);
	CREATE TABLE events (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		time     TEXT NOT NULL,
		actor    TEXT NOT NULL,
		action   TEXT NOT NULL,
		color    TEXT NOT NULL,
		outcome  TEXT NOT NULL,
		revision INTEGER NOT NULL,
		message  TEXT NOT NULL,
		details  TEXT
	);
	CREATE INDEX events_color  ON events (color, id);
	CREATE INDEX events_action ON events (action, id);
	CREATE INDEX events_actor  ON events (actor, id);
	CREATE TRIGGER events_no_update BEFORE UPDATE ON events
		BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
	CREATE TRIGGER events_no_delete BEFORE DELETE ON events
		BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;`,
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("the state file has schema version %d; this bluegreen knows up to %d (use a newer bluegreen)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("schema migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// Load returns the committed state, or State{Revision: 0} on a fresh store.
func (s *Store) Load(ctx context.Context) (bluegreen.State, error) {
	return load(ctx, s.db)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func load(ctx context.Context, q queryer) (bluegreen.State, error) {
	var (
		rev  int64
		data string
	)
	err := q.QueryRowContext(ctx, "SELECT revision, data FROM state WHERE id = 1").Scan(&rev, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return bluegreen.State{}, nil
	}
	if err != nil {
		return bluegreen.State{}, fmt.Errorf("loading state: %w", err)
	}
	var st bluegreen.State
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		return bluegreen.State{}, fmt.Errorf("decoding state revision %d: %w", rev, err)
	}
	st.Revision = rev
	return st, nil
}

// Commit implements bluegreen.Store.
func (s *Store) Commit(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock): one writer at a time
	if err != nil {
		return bluegreen.State{}, fmt.Errorf("committing state: %w", err)
	}
	defer tx.Rollback()
	cur, err := load(ctx, tx)
	if err != nil {
		return bluegreen.State{}, err
	}
	if cur.Revision != next.Revision {
		return bluegreen.State{}, fmt.Errorf("committing revision %d over %d: %w", next.Revision+1, cur.Revision, bluegreen.ErrConflict)
	}
	committed := next.Clone()
	committed.Revision = next.Revision + 1
	data, err := json.Marshal(committed)
	if err != nil {
		return bluegreen.State{}, fmt.Errorf("encoding state: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO state (id, revision, data) VALUES (1, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, data = excluded.data`,
		committed.Revision, string(data)); err != nil {
		return bluegreen.State{}, fmt.Errorf("writing state: %w", err)
	}
	for i := range events {
		events[i].Revision = committed.Revision
	}
	if err := appendEvents(ctx, tx, events); err != nil {
		return bluegreen.State{}, err
	}
	if err := tx.Commit(); err != nil {
		return bluegreen.State{}, fmt.Errorf("committing state: %w", err)
	}
	return committed, nil
}

// Append implements bluegreen.Store.
func (s *Store) Append(ctx context.Context, events ...bluegreen.Event) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("appending events: %w", err)
	}
	defer tx.Rollback()
	if err := appendEvents(ctx, tx, events); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("appending events: %w", err)
	}
	return nil
}

func appendEvents(ctx context.Context, tx *sql.Tx, events []bluegreen.Event) error {
	for i := range events {
		e := &events[i]
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		var details any
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return fmt.Errorf("encoding event details: %w", err)
			}
			details = string(b)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO events (time, actor, action, color, outcome, revision, message, details)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, string(e.Color), e.Outcome, e.Revision, e.Message, details)
		if err != nil {
			return fmt.Errorf("appending event: %w", err)
		}
		if e.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("appending event: %w", err)
		}
	}
	return nil
}

// History implements bluegreen.Store.
func (s *Store) History(ctx context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Color != "" {
		add("color = ?", string(f.Color))
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 10000:
		limit = 10000
	}
	q := "SELECT id, time, actor, action, color, outcome, revision, message, details FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	defer rows.Close()
	var evs []bluegreen.Event
	for rows.Next() {
		var (
			e       bluegreen.Event
			ts      string
			color   string
			details sql.NullString
		)
		if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &color, &e.Outcome, &e.Revision, &e.Message, &details); err != nil {
			return nil, fmt.Errorf("reading history: %w", err)
		}
		if e.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return nil, fmt.Errorf("event %d has a bad time %q: %w", e.ID, ts, err)
		}
		e.Color = bluegreen.Color(color)
		if details.Valid {
			if err := json.Unmarshal([]byte(details.String), &e.Details); err != nil {
				return nil, fmt.Errorf("event %d has bad details: %w", e.ID, err)
			}
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	return evs, nil
}
