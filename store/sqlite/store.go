// Package sqlite implements bluegreen.Store on an embedded SQLite file
// (modernc.org/sqlite: pure Go, no cgo).
//
// The file is in WAL mode with synchronous=FULL, so a Commit or Append that
// returned nil is on disk: a kill -9 (or a power cut) right after loses
// nothing. CommitVisible splits a commit in two: visible and safe from a
// kill -9 when it returns, safe from a power cut once its sync returns. The committed state is one row holding its revision and its JSON;
// the history is an events table that triggers keep append-only.
//
// Several processes may open the same file (a server and a CLI, say): every
// write runs in a BEGIN IMMEDIATE transaction, so two writers never read the
// same revision, and readers never wait for writers (WAL).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bluegreen/bluegreen"
)

// ErrClosed is returned (wrapped) by every call on a Store after Close.
var ErrClosed = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "the state store is closed")

// DefaultBusyTimeout is how long a write waits for another process's write
// transaction on the same file before failing with EUNAVAILABLE.
const DefaultBusyTimeout = 10 * time.Second

// maxConns caps the connection pool. Writes are serialised anyway; the rest
// serve concurrent readers.
const maxConns = 8

// Store is a bluegreen.Store on an SQLite file. It is safe for concurrent
// use. Writes from one Store are serialised in Go (so they never spin on
// SQLite's lock); writes from other processes are serialised by SQLite.
type Store struct {
	db     *sql.DB
	path   string
	log    *slog.Logger
	writes chan struct{} // a one-slot semaphore held for each write transaction
	closed atomic.Bool
}

var _ bluegreen.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	log         *slog.Logger
	busyTimeout time.Duration
}

// WithLogger makes the store log schema migrations to l. A nil l (the
// default) discards them.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithBusyTimeout sets how long a write waits for another process holding the
// write lock (default DefaultBusyTimeout). Values below one millisecond are
// raised to one millisecond.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// Open opens the store at path, creating the file (mode 0600) and its parent
// directory (0700) if needed, and brings its schema up to date. It fails if
// the file is not an SQLite database or has a schema newer than this code
// knows. Close the Store when done.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{busyTimeout: DefaultBusyTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	o.busyTimeout = max(o.busyTimeout, time.Millisecond)

	if err := create(path); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs, o.busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	s := &Store{
		db:     db,
		path:   path,
		log:    o.log.With("component", "store", "path", path),
		writes: make(chan struct{}, 1),
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	return s, nil
}

// create makes path's directory (0700) and an empty file (0600) if they do
// not exist. SQLite creates the -wal and -shm files with the database file's
// permissions, so they are private too. A new file's directory entry is
// synced so that a power cut cannot lose the file itself.
func create(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating state %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating state %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the state directory: %w", err)
	}
	return nil
}

// dsn builds a file: URI for abs whose pragmas every pooled connection runs
// when it opens. '%', '?' and '#' in the path are escaped so that neither the
// driver nor SQLite's URI parser mistakes them for a query or fragment.
func dsn(abs string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate") // read-write transactions take the write lock at BEGIN
	return fileURI(abs, q)
}

// fileURI is the file: URI for abs with the query q.
func fileURI(abs string, q url.Values) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + q.Encode()
}

// Path returns the path Open was given.
func (s *Store) Path() string { return s.path }

// Close closes the database; calls after Close fail with ErrClosed. Closing
// twice is a no-op. Close does not wait for calls in progress: they finish or
// fail.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing state %s: %w", s.path, err)
	}
	return nil
}

// lockWrites takes the write semaphore, or fails when ctx ends first. The
// caller must call unlockWrites when it succeeded.
func (s *Store) lockWrites(ctx context.Context) error {
	select {
	case s.writes <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockWrites() { <-s.writes }

// fail wraps err, a failure of op, with context. After Close it wraps
// ErrClosed; when another process held the write lock past the busy timeout
// it adds an EUNAVAILABLE error that callers can show.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	var se *sqlitedrv.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		busy := bluegreen.Errorf(bluegreen.EUNAVAILABLE, "the state file %s is locked by another process; try again", s.path)
		return fmt.Errorf("%s: %w: %w", op, busy, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
