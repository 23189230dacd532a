package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckMode: a config file its group or others can write is refused,
// naming the file, who can write it and the fix; a private one passes.
func TestCheckMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	for mode, who := range map[os.FileMode]string{0o600: "", 0o644: "", 0o444: "", 0o666: "its group and other users",
		0o664: "its group", 0o646: "other users", 0o622: "its group and other users"} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		err := CheckMode(path)
		if who == "" {
			if err != nil {
				t.Errorf("mode %v: %v, want nil", mode, err)
			}
			continue
		}
		want := path + ": the file is writable by " + who + " (mode " + mode.String() + ")"
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "run: chmod go-w "+path) {
			t.Errorf("mode %v: %v, want %q ... run: chmod go-w %s", mode, err, want, path)
		}
	}
	if err := CheckMode(filepath.Join(t.TempDir(), "missing.yaml")); err != nil {
		t.Errorf("a missing file: %v, want nil (Load reports it)", err)
	}
}
