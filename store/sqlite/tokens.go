package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
)

var _ bluegreen.TokenStore = (*Store)(nil)

// CreateToken implements bluegreen.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t bluegreen.Token, hash [32]byte) error {
	const op = "creating a token"
	return s.write(ctx, op, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tokens WHERE name = ?", t.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return bluegreen.Errorf(bluegreen.ECONFLICT, "a token named %q exists already (names stay unique, revoked ones included)", t.Name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, role, host, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			t.Name, string(t.Role), t.Host, hash[:], t.By, t.At.UTC().Format(timeFormat))
		return err
	})
}

// LookupToken implements bluegreen.TokenStore.
func (s *Store) LookupToken(ctx context.Context, hash [32]byte) (bluegreen.Token, error) {
	const op = "looking up a token"
	if s.closed.Load() {
		return bluegreen.Token{}, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	row := s.db.QueryRowContext(ctx, `SELECT name, role, host, created_by, created_at, revoked_at FROM tokens
		WHERE hash = ? AND revoked_at IS NULL`, hash[:])
	t, err := scanToken(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return t, bluegreen.Errorf(bluegreen.ENOTFOUND, "no such token")
	}
	if err != nil {
		return t, s.fail(op, err)
	}
	return t, nil
}

// Tokens implements bluegreen.TokenStore.
func (s *Store) Tokens(ctx context.Context) ([]bluegreen.Token, error) {
	const op = "listing tokens"
	if s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, host, created_by, created_at, revoked_at FROM tokens ORDER BY created_at, name`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []bluegreen.Token
	for rows.Next() {
		t, err := scanToken(rows.Scan)
		if err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// RevokeToken implements bluegreen.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) (bluegreen.Token, error) {
	var t bluegreen.Token
	err := s.write(ctx, "revoking a token", func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT name, role, host, created_by, created_at, revoked_at FROM tokens WHERE name = ?`, name)
		var err error
		t, err = scanToken(row.Scan)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return bluegreen.Errorf(bluegreen.ENOTFOUND, "no token named %q", name)
		case err != nil:
			return err
		case !t.Revoked.IsZero():
			return bluegreen.Errorf(bluegreen.ECONFLICT, "token %q was already revoked at %s", name, t.Revoked.Format(time.RFC3339))
		}
		t.Revoked = at.UTC()
		_, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE name = ?`, t.Revoked.Format(timeFormat), name)
		return err
	})
	return t, err
}

// write runs fn in a write transaction and commits it; domain errors from
// fn are returned as they are.
func (s *Store) write(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if err := s.lockWrites(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer s.unlockWrites()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		var be *bluegreen.Error
		if errors.As(err, &be) {
			return err
		}
		return s.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(op, err)
	}
	return nil
}

func scanToken(scan func(...any) error) (bluegreen.Token, error) {
	var (
		t        bluegreen.Token
		role, at string
		revoked  sql.NullString
	)
	if err := scan(&t.Name, &role, &t.Host, &t.By, &at, &revoked); err != nil {
		return t, err
	}
	t.Role = bluegreen.Role(role)
	var err error
	if t.At, err = time.Parse(timeFormat, at); err != nil {
		return t, fmt.Errorf("token %q has a bad creation time: %w", t.Name, err)
	}
	if revoked.Valid {
		if t.Revoked, err = time.Parse(timeFormat, revoked.String); err != nil {
			return t, fmt.Errorf("token %q has a bad revocation time: %w", t.Name, err)
		}
	}
	return t, nil
}
