package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesConfigWritableByOthers: bluegreen.yaml holds commands
// serve runs, so a file its group or others can write is refused at start
// (exit 2, the fix named, nothing created) and by a reload (nothing
// applied); the verbs that only read the API address from it warn.
func TestServeRefusesConfigWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "127.0.0.1:1", "127.0.0.1:2", "")
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "serve", "--config", path)
	if code != 2 || !strings.Contains(errOut, path+": the file is writable by its group and other users (mode -rw-rw-rw-)") ||
		!strings.Contains(errOut, "run: chmod go-w "+path) {
		t.Fatalf("serve with a world-writable config: exit %d, stdout %q, stderr %q; want exit 2 naming chmod go-w", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Fatalf("the refused serve created its state directory (%v)", err)
	}

	// A running serve whose file becomes group-writable applies no reload.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	path = writeConfig(t, dir, blue, green, "")
	s := startServe(t, path)
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(good), "branch: green", "branch: pwned", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o664); err != nil {
		t.Fatal(err)
	}
	if msg := reloadAndWait(t, s); !strings.HasPrefix(msg, "reload refused, nothing changed: "+path+": the file is writable by its group") {
		t.Fatalf("reload of a group-writable file: %q, want it refused", msg)
	}
	if st := s.mustCLI(t, "status"); strings.Contains(st, "pwned") {
		t.Fatalf("the refused reload applied the branch:\n%s", st)
	}

	// A verb that reads the token file's place from the file warns, and works.
	out, errOut, code = runCLI(t, "--server", s.apiAd, "status", "--config", path)
	if code != 0 || !strings.Contains(errOut, "bluegreen: warning: "+path+": the file is writable by its group") {
		t.Fatalf("status with a group-writable config: exit %d, stdout %q, stderr %q; want it to work and warn", code, out, errOut)
	}
}

// TestServeRefusesStateDirWritableByOthers: a state directory others can
// write (they could swap state.db or read the token's directory) is refused
// with the fix named.
func TestServeRefusesStateDirWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "127.0.0.1:1", "127.0.0.1:2", "")
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "serve", "--config", path)
	if code == 0 || !strings.Contains(errOut, "the state directory "+state+" is writable by others") || !strings.Contains(errOut, "chmod 700 "+state) {
		t.Fatalf("serve with a world-writable state directory: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Fatalf("the refused serve wrote into the state directory: %v", entries)
	}
}
