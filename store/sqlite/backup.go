package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen"
)

// BackupInfo describes a copy Backup made.
type BackupInfo struct {
	// Path is the backup file, as given to Backup.
	Path string
	// Bytes is the backup's size.
	Bytes int64
	// Revision is the committed state's revision in the backup; 0 when the
	// state was never committed.
	Revision int64
	// Events is the number of history events in the backup.
	Events int64
}

// Backup writes a consistent copy of the state file src to dst while other
// processes (a running serve) keep reading and writing src: SQLite's VACUUM
// INTO reads one snapshot in a read transaction, which WAL lets run beside a
// writer without blocking it. The copy is checked (PRAGMA quick_check), is
// a single self-contained file (rollback journal, no -wal file needed) with
// mode 0600, and appears at dst only when complete: it is written to a
// temporary file in dst's directory, synced, then moved into place. With
// overwrite false an existing dst is left alone and the error wraps
// fs.ErrExist. Backup never creates or migrates src and writes nothing of
// its own to it (as with any SQLite reader, closing the last connection to
// it checkpoints its WAL); it refuses a missing or empty src, a src that is
// not a bluegreen state file, and a dst that is src or one of its companion
// files (-wal, -shm, -journal). It is safe to call concurrently with a
// Store open on src, in this process or another.
func Backup(ctx context.Context, src, dst string, overwrite bool) (BackupInfo, error) {
	info := BackupInfo{Path: dst}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return info, fmt.Errorf("backing up %s: %w", src, err)
	}
	absDst, err := filepath.Abs(dst)
	if err != nil {
		return info, fmt.Errorf("backing up to %s: %w", dst, err)
	}
	if err := checkBackupSource(absSrc); err != nil {
		return info, err
	}
	if sameOrCompanion(absSrc, absDst) {
		return info, bluegreen.Errorf(bluegreen.EINVALID, "the backup %s would replace the state file %s or one of its companions; back up to another file", dst, src)
	}
	if !overwrite {
		if _, err := os.Lstat(absDst); err == nil {
			return info, fmt.Errorf("%s: %w", dst, fs.ErrExist)
		}
	}

	tmp, err := os.CreateTemp(filepath.Dir(absDst), "."+filepath.Base(absDst)+".tmp-*") // mode 0600
	if err != nil {
		return info, fmt.Errorf("creating the backup: %w", err)
	}
	tmpPath := tmp.Name()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()
	if err := tmp.Close(); err != nil {
		return info, fmt.Errorf("creating the backup: %w", err)
	}
	if err := vacuumInto(ctx, absSrc, tmpPath); err != nil {
		return info, fmt.Errorf("backing up %s: %w", src, err)
	}
	if info.Revision, info.Events, err = checkBackup(ctx, tmpPath); err != nil {
		return info, fmt.Errorf("checking the backup: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return info, fmt.Errorf("syncing the backup: %w", err)
	}
	if err := place(tmpPath, absDst, overwrite); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return info, fmt.Errorf("%s: %w", dst, fs.ErrExist)
		}
		return info, fmt.Errorf("writing the backup %s: %w", dst, err)
	}
	done = true
	if err := syncFile(filepath.Dir(absDst)); err != nil {
		return info, fmt.Errorf("syncing the backup's directory: %w", err)
	}
	fi, err := os.Stat(absDst)
	if err != nil {
		return info, fmt.Errorf("writing the backup %s: %w", dst, err)
	}
	info.Bytes = fi.Size()
	return info, nil
}

// checkBackupSource refuses a state file that is missing, not a regular
// file or empty, before SQLite gets to create or initialise it.
func checkBackupSource(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "there is no state file %s to back up", path)
	case err != nil:
		return fmt.Errorf("backing up %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return bluegreen.Errorf(bluegreen.EINVALID, "the state file %s is not a regular file", path)
	case fi.Size() == 0:
		return bluegreen.Errorf(bluegreen.EINVALID, "the state file %s is empty: there is nothing to back up", path)
	}
	return nil
}

// sameOrCompanion reports whether dst is src, one of SQLite's companion
// files of src, or (through a link) the same file as src.
func sameOrCompanion(src, dst string) bool {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if dst == src+suffix {
			return true
		}
	}
	a, errA := os.Stat(src)
	b, errB := os.Stat(dst)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// vacuumInto copies a snapshot of the database at src into the empty file
// at dst. src is opened read-write but never created (mode=rw), and
// nothing is written to it; no schema migration runs.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", readerDSN(src, DefaultBusyTimeout))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version == 0 {
		return bluegreen.Errorf(bluegreen.EINVALID, "%s is not a bluegreen state file (no schema)", src)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return err
	}
	return nil
}

// checkBackup makes the copy at path self-contained (rollback journal, so a
// restore needs no -wal file), checks it and reads what it holds.
func checkBackup(ctx context.Context, path string) (revision, events int64, err error) {
	db, err := sql.Open("sqlite", readerDSN(path, time.Second))
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = DELETE").Scan(&mode); err != nil {
		return 0, 0, err
	}
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return 0, 0, err
	}
	if check != "ok" {
		return 0, 0, fmt.Errorf("the copy is damaged: %s", check)
	}
	err = db.QueryRowContext(ctx, "SELECT revision FROM state WHERE id = 1").Scan(&revision)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, err
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&events); err != nil {
		return 0, 0, err
	}
	return revision, events, nil
}

// readerDSN is a file: URI for an existing database at abs (mode=rw: never
// created) with a busy timeout; unlike dsn it sets no journal mode.
func readerDSN(abs string, busy time.Duration) string {
	q := url.Values{}
	q.Set("mode", "rw")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	return fileURI(abs, q)
}

// place moves the finished backup tmp to dst: over an existing dst when
// overwrite, else only if dst does not exist (a hard link fails then; on a
// file system without hard links, a rename after a check).
func place(tmp, dst string, overwrite bool) error {
	if overwrite {
		return os.Rename(tmp, dst)
	}
	err := os.Link(tmp, dst)
	switch {
	case err == nil:
		return os.Remove(tmp)
	case errors.Is(err, fs.ErrExist):
		return err
	}
	if _, serr := os.Lstat(dst); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, dst)
}

// syncFile fsyncs the file or directory at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
