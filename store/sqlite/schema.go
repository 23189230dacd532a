package sqlite

import (
	"context"
	"fmt"
)

// migrations are applied in order, each in the same transaction as the
// PRAGMA user_version that records it: user_version is the number of
// migrations done. Append new ones; never edit one that has shipped.
var migrations = []string{
	// 1: the committed state and the append-only history.
	`CREATE TABLE state (
		id       INTEGER PRIMARY KEY CHECK (id = 1),
		revision INTEGER NOT NULL CHECK (revision > 0),
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
		BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
	CREATE TRIGGER events_no_delete BEFORE DELETE ON events
		BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;`,
	// 2: API tokens, by the SHA-256 of their secret (never the secret).
	`CREATE TABLE tokens (
		name       TEXT PRIMARY KEY,
		role       TEXT NOT NULL,
		hash       BLOB NOT NULL UNIQUE,
		created_by TEXT NOT NULL,
		created_at TEXT NOT NULL,
		revoked_at TEXT
	);
	CREATE INDEX events_outcome ON events (outcome, id);`,
	// 3: the host an agent token acts for ('' for the other roles).
	`ALTER TABLE tokens ADD COLUMN host TEXT NOT NULL DEFAULT '';`,
}

// migrate brings the schema up to date in one write transaction, so that two
// processes opening a new file at once do not both create it.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return s.fail("migrating the schema", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return s.fail("reading the schema version", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("the state file has schema version %d but this bluegreen knows only up to %d: use a newer bluegreen", v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return s.fail(fmt.Sprintf("schema migration %d", i+1), err)
		}
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return s.fail("recording the schema version", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("migrating the schema", err)
	}
	s.log.Info("state schema migrated", "from", v, "to", len(migrations))
	return nil
}
