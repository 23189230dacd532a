package sqlite

import (
	"context"
	"fmt"
)

// TokenHashes returns the SHA-256 hash of each token's secret, by token
// name, revoked tokens included: what `bluegreen state copy` needs to copy
// tokens to another store (the secrets themselves are never stored). It
// fails with ErrClosed after Close.
func (s *Store) TokenHashes(ctx context.Context) (map[string][32]byte, error) {
	const op = "listing token hashes"
	if s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, hash FROM tokens`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	out := map[string][32]byte{}
	for rows.Next() {
		var (
			name string
			hash []byte
		)
		if err := rows.Scan(&name, &hash); err != nil {
			return nil, s.fail(op, err)
		}
		if len(hash) != 32 {
			return nil, fmt.Errorf("%s: token %q has a %d-byte hash, want 32", op, name, len(hash))
		}
		out[name] = [32]byte(hash)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
