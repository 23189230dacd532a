package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bluegreen/bluegreen"
)

// timeFormat stores event times as fixed-width UTC text with nanoseconds, so
// they read well in the sqlite3 shell and sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Load returns the committed state, or State{Revision: 0} on a fresh store.
// Times come back in UTC. It fails with ErrClosed after Close.
func (s *Store) Load(ctx context.Context) (bluegreen.State, error) {
	if s.closed.Load() {
		return bluegreen.State{}, fmt.Errorf("loading state: %w", ErrClosed)
	}
	st, err := load(ctx, s.db)
	if err != nil {
		return bluegreen.State{}, s.fail("loading state", err)
	}
	return st, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func load(ctx context.Context, q queryer) (bluegreen.State, error) {
	var (
		rev  int64
		data []byte
	)
	err := q.QueryRowContext(ctx, "SELECT revision, data FROM state WHERE id = 1").Scan(&rev, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return bluegreen.State{}, nil
	}
	if err != nil {
		return bluegreen.State{}, err
	}
	var st bluegreen.State
	if err := json.Unmarshal(data, &st); err != nil {
		return bluegreen.State{}, fmt.Errorf("decoding state revision %d: %w", rev, err)
	}
	st.Revision = rev
	return st, nil
}

// Commit stores next as revision next.Revision+1 if the stored revision is
// still next.Revision, and appends events in the same transaction; see
// bluegreen.Store. On success it returns the committed state exactly as Load
// will return it (times in UTC) and sets each event's ID, Revision and, when
// zero, Time in the events slice. On a revision mismatch it returns an error
// wrapping bluegreen.ErrConflict; on any error nothing is stored and events
// is left untouched. When another process holds the write lock past the busy
// timeout the error has code EUNAVAILABLE.
func (s *Store) Commit(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	return s.commit(ctx, next, events, true)
}

// CommitVisible is Commit in two steps, for a caller that must act on the
// commit as early as possible (a switch flips the router on it). When it
// returns, the commit is visible to every reader, in this process and
// others, and survives this process being killed; it is not yet safe from a
// power cut or an operating-system crash. sync waits until it is: the
// caller must call it, and see it return nil, before it reports the commit
// as done to anyone. A commit whose sync failed may be lost at the next
// power cut (the file stays consistent: the commit is there whole or not at
// all). On error, nothing is stored and sync is nil.
func (s *Store) CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (st bluegreen.State, sync func() error, err error) {
	st, err = s.commit(ctx, next, events, false)
	if err != nil {
		return st, nil, err
	}
	return st, s.syncWAL, nil
}

// syncWAL makes every commit written to the write-ahead log so far durable:
// what synchronous=FULL does at the end of each commit. fsync applies to the
// file, not to the descriptor, so SQLite's own writes are flushed too. If
// the log is gone, a checkpoint moved its content into the database file
// and synced it (SQLite syncs before it resets or deletes the log).
func (s *Store) syncWAL() error {
	f, err := os.Open(s.path + "-wal")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("syncing the state log: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing the state log %s: %w", f.Name(), err)
	}
	return nil
}

// execer is what commit needs of a *sql.DB or a *sql.Conn.
type execer interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (s *Store) commit(ctx context.Context, next bluegreen.State, events []bluegreen.Event, durable bool) (bluegreen.State, error) {
	const op = "committing state"
	if s.closed.Load() {
		return bluegreen.State{}, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	committed := next.Clone()
	committed.Revision = next.Revision + 1
	committed.InUTC()
	data, err := json.Marshal(committed)
	if err != nil {
		return bluegreen.State{}, fmt.Errorf("encoding state: %w", err)
	}
	// Decode what is stored so the caller gets what Load would return.
	var out bluegreen.State
	if err := json.Unmarshal(data, &out); err != nil {
		return bluegreen.State{}, fmt.Errorf("decoding state: %w", err)
	}
	evs := append([]bluegreen.Event(nil), events...)
	for i := range evs {
		evs[i].Revision = committed.Revision
	}

	if err := s.lockWrites(ctx); err != nil {
		return bluegreen.State{}, fmt.Errorf("%s: %w", op, err)
	}
	defer s.unlockWrites()
	var db execer = s.db
	if !durable {
		conn, err := s.lazyConn(ctx)
		if err != nil {
			return bluegreen.State{}, s.fail(op, err)
		}
		defer s.releaseLazy(conn)
		db = conn
	}
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the revision read below cannot go stale
	if err != nil {
		return bluegreen.State{}, s.fail(op, err)
	}
	defer tx.Rollback()
	var cur int64 // 0 on a fresh store, as load reports it
	err = tx.QueryRowContext(ctx, "SELECT revision FROM state WHERE id = 1").Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return bluegreen.State{}, s.fail(op, err)
	}
	if cur != next.Revision {
		return bluegreen.State{}, fmt.Errorf("%s: read at revision %d, stored revision is %d: %w",
			op, next.Revision, cur, bluegreen.ErrConflict)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO state (id, revision, data) VALUES (1, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, data = excluded.data`,
		committed.Revision, string(data)); err != nil {
		return bluegreen.State{}, s.fail(op, err)
	}
	if err := insertEvents(ctx, tx, evs); err != nil {
		return bluegreen.State{}, s.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return bluegreen.State{}, s.fail(op, err)
	}
	copy(events, evs)
	out.Revision = committed.Revision
	return out, nil
}

// lazyConn takes a pooled connection and turns off its sync at commit
// (synchronous=NORMAL: the log is written, not flushed) and its automatic
// checkpoint (which would sync and copy the whole log into the database
// file inside this commit, every thousand pages or so; the next ordinary
// commit does it instead). releaseLazy turns both back on before the
// connection returns to the pool, or discards the connection when it
// cannot.
func (s *Store) lazyConn(ctx context.Context) (*sql.Conn, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, pragma := range []string{"PRAGMA synchronous = NORMAL", "PRAGMA wal_autocheckpoint = 0"} {
		if _, err := conn.ExecContext(ctx, pragma); err != nil {
			s.releaseLazy(conn)
			return nil, err
		}
	}
	return conn, nil
}

func (s *Store) releaseLazy(conn *sql.Conn) {
	for _, pragma := range []string{"PRAGMA synchronous = FULL", "PRAGMA wal_autocheckpoint = 1000"} {
		if _, err := conn.ExecContext(context.Background(), pragma); err != nil {
			s.log.Warn("restoring the connection's defaults failed; dropping it", "pragma", pragma, "err", err)
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			break
		}
	}
	conn.Close()
}

// Append adds events that do not change the state, in one transaction, and
// sets each event's ID (increasing in slice order) and, when zero, its Time
// in the events slice. The events' Revision is stored as given. On error
// nothing is stored and events is left untouched. Appending no events is a
// no-op (but still fails after Close).
func (s *Store) Append(ctx context.Context, events ...bluegreen.Event) error {
	const op = "appending events"
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if len(events) == 0 {
		return nil
	}
	evs := append([]bluegreen.Event(nil), events...)
	if err := s.write(ctx, op, func(tx *sql.Tx) error { return insertEvents(ctx, tx, evs) }); err != nil {
		return err
	}
	copy(events, evs)
	return nil
}

// insertEvents inserts evs in order, filling in their IDs and zero Times.
func insertEvents(ctx context.Context, tx *sql.Tx, evs []bluegreen.Event) error {
	if len(evs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx,
		`INSERT INTO events (time, actor, action, color, outcome, revision, message, details)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	now := time.Now().UTC()
	for i := range evs {
		e := &evs[i]
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		var details any // NULL when there are none
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return fmt.Errorf("encoding details of event %q: %w", e.Action, err)
			}
			details = string(b)
		}
		res, err := stmt.ExecContext(ctx, e.Time.Format(timeFormat), e.Actor, string(e.Action), string(e.Color),
			string(e.Outcome), e.Revision, e.Message, details)
		if err != nil {
			return err
		}
		if e.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}
