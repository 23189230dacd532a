package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStateBackupAndRestore: `state backup` copies the state while serve
// runs (0600, text and JSON, no overwrite without --force); a serve whose
// state.db was emptied refuses to start, saying how to restore, and changes
// nothing; restoring the backup as the README says brings the live color
// back.
func TestStateBackupAndRestore(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, blue, green, "")
	s := startServe(t, cfg)
	s.mustCLI(t, "switch", "green")

	backup := filepath.Join(dir, "backups", "state-1.db")
	if err := os.Mkdir(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "state", "backup", backup, "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "backed up "+filepath.Join(dir, "state", "state.db")+" to "+backup+": revision ") {
		t.Fatalf("state backup: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup: %v, %v; want mode 0600", fi, err)
	}
	before, _ := os.ReadFile(backup)
	if _, errOut, code := runCLI(t, "state", "backup", backup, "--config", cfg); code != 1 ||
		!strings.Contains(errOut, backup+" exists; not overwriting it (--force replaces it)") {
		t.Fatalf("backup onto an existing file: exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(backup); string(after) != string(before) {
		t.Fatal("the refused backup changed the existing file")
	}
	out, errOut, code = runCLI(t, "state", "backup", backup, "--force", "-o", "json", "--config", cfg)
	info := decodeJSON[struct {
		File            string
		Bytes, Revision int64
		Events          int64
	}](t, out)
	if code != 0 || info.File != backup || info.Bytes == 0 || info.Revision < 2 || info.Events == 0 {
		t.Fatalf("state backup --force -o json: exit %d, %+v, stderr %q", code, info, errOut)
	}

	// The state is lost: serve refuses to start instead of serving blue
	// with no history, and leaves the empty file as it is.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	db := filepath.Join(dir, "state", "state.db")
	for _, f := range []string{db + "-wal", db + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "serve", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "the state file "+db+" is empty, but the state directory was used before") ||
		!strings.Contains(errOut, "bluegreen state backup FILE") || !strings.Contains(errOut, "cp FILE "+db) {
		t.Fatalf("serve on an emptied state.db: exit %d, stdout %q, stderr %q; want a refusal saying how to restore", code, out, errOut)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Fatalf("the refused serve changed the state file: %v, %v", fi, err)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code = runCLI(t, "serve", "--config", cfg); code != 1 || !strings.Contains(errOut, "is missing, but the state directory was used before") {
		t.Fatalf("serve without state.db: exit %d, stderr %q", code, errOut)
	}

	// Restore as the README says: copy the backup to state.db, start.
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := startServe(t, cfg)
	if _, body, _ := get(t, "http://"+s2.public+"/deployment/color/"); body != `{"color":"green"}` {
		t.Fatalf("color after the restore: %q, want green", body)
	}
	if hist := s2.mustCLI(t, "history", "--action", "switch"); !strings.Contains(hist, "green") {
		t.Fatalf("the restored history has no switch to green:\n%s", hist)
	}
}
