package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// TestCommitWhileAnotherProcessWrites holds the write lock from another
// connection pool: Commit waits the busy timeout, then fails with EUNAVAILABLE
// and changes nothing; once the lock is released it succeeds.
func TestCommitWhileAnotherProcessWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openStore(t, path, WithBusyTimeout(50*time.Millisecond))
	ctx := t.Context()
	other := rawDB(t, path)
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Commit(ctx, storetest.SampleState(0))
	if code := bluegreen.ErrorCode(err); code != bluegreen.EUNAVAILABLE {
		t.Fatalf("Commit while locked: err = %v (code %q), want code %q", err, code, bluegreen.EUNAVAILABLE)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("Commit gave up after %v, want about the 50ms busy timeout", waited)
	}
	// Readers are not blocked by the writer (WAL).
	if st, err := s.Load(ctx); err != nil || st.Revision != 0 {
		t.Fatalf("Load while locked: revision %d, err %v; want 0, nil", st.Revision, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, storetest.SampleState(0)); err != nil {
		t.Fatalf("Commit after the lock was released: %v", err)
	}
}
