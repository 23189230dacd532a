package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// TestBackupWhileWriting: backups taken while a writer commits and appends
// without pause are each a consistent, private, self-contained snapshot that
// opens as a store, and the writer is never held up into failing.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "state.db"))
	// One event before the writer starts: the first backup may be taken
	// before the writer's first append, and must find one all the same.
	st, err := s.Commit(t.Context(), storetest.SampleState(0), bluegreen.Event{Time: time.Now(), Actor: "writer",
		Action: bluegreen.ActionSwitch, Color: bluegreen.Blue, Outcome: bluegreen.OutcomeOK})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var (
		wg       sync.WaitGroup
		writeErr error
	)
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			ev := bluegreen.Event{Time: time.Now(), Actor: "writer", Action: bluegreen.ActionSwitch,
				Color: bluegreen.Green, Outcome: bluegreen.OutcomeOK, Message: strings.Repeat("x", 200)}
			next := st
			next.Live = next.Live.Other()
			var err error
			if i%10 == 0 {
				st, err = s.Commit(ctx, next, ev)
			} else {
				err = s.Append(ctx, ev)
			}
			if err != nil && ctx.Err() == nil {
				writeErr = err
				return
			}
		}
	})
	var last BackupInfo
	for i := range 5 {
		dst := filepath.Join(dir, "backup.db")
		info, err := Backup(t.Context(), s.Path(), dst, i > 0)
		if err != nil {
			cancel()
			wg.Wait()
			t.Fatalf("backup %d: %v", i, err)
		}
		if info.Revision < last.Revision || info.Events < last.Events || info.Events == 0 || info.Bytes == 0 {
			t.Errorf("backup %d = %+v after %+v: want a later snapshot", i, info, last)
		}
		last = info
		fi, err := os.Stat(dst)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 || fi.Size() != info.Bytes {
			t.Errorf("backup %d: mode %v size %d, want 0600 and %d bytes", i, perm, fi.Size(), info.Bytes)
		}
		for _, companion := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Stat(dst + companion); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("backup %d: %s%s exists (%v); a backup is one file", i, dst, companion, err)
			}
		}
		checkRestorable(t, dst, info)
	}
	cancel()
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("the writer failed during the backups: %v", writeErr)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".backup.db.tmp-*")); len(entries) > 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// checkRestorable opens a copy of the backup as a store and checks that it
// holds what Backup said.
func checkRestorable(t *testing.T, backup string, info BackupInfo) {
	t.Helper()
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(restored, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, restored)
	st, err := r.Load(t.Context())
	if err != nil || st.Revision != info.Revision {
		t.Fatalf("restored state: revision %d (%v), want %d", st.Revision, err, info.Revision)
	}
	evs, err := r.History(t.Context(), bluegreen.HistoryFilter{Limit: MaxHistoryLimit})
	if err != nil || int64(len(evs)) != info.Events {
		t.Fatalf("restored history: %d events (%v), want %d", len(evs), err, info.Events)
	}
}

// TestBackupRefuses: Backup changes nothing when it cannot make a good copy:
// no state file, an empty one, one that is not ours, a backup that would
// replace the state file, or an existing file without overwrite.
func TestBackupRefuses(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	missing := filepath.Join(dir, "missing", "state.db")
	if _, err := Backup(ctx, missing, filepath.Join(dir, "b1"), false); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("backup of a missing file: %v, want not_found", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the backup created the missing state file (%v)", err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, empty, filepath.Join(dir, "b2"), false); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("backup of an empty file: %v, want it refused", err)
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Errorf("the backup wrote into the empty state file")
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", "file:"+foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Backup(ctx, foreign, filepath.Join(dir, "b3"), false); err == nil || !strings.Contains(err.Error(), "not a bluegreen state file") {
		t.Errorf("backup of another SQLite file: %v, want it refused", err)
	}

	s := openStore(t, filepath.Join(dir, "state.db"))
	if _, err := s.Commit(ctx, storetest.SampleState(0)); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{s.Path(), s.Path() + "-wal", s.Path() + "-shm"} {
		if _, err := Backup(ctx, s.Path(), dst, true); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("backup onto %s: %v, want it refused", filepath.Base(dst), err)
		}
	}
	if _, err := s.Load(ctx); err != nil {
		t.Fatalf("the state after the refused backups: %v", err)
	}

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, s.Path(), existing, false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("backup onto an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the refused backup changed the existing file: %q", b)
	}
	info, err := Backup(ctx, s.Path(), existing, true)
	if err != nil || info.Revision != 1 {
		t.Fatalf("backup with overwrite: %+v, %v", info, err)
	}
	checkRestorable(t, existing, info)
	if entries, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(entries) > 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}
