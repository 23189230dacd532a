package release

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestMaliciousRefsNeverReachGit checks that each hostile ref is refused
// before any git process starts (a logging wrapper around git records every
// run) and that none of the payloads creates its marker file.
func TestMaliciousRefsNeverReachGit(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	gitRuns := gitLogger(t, r, "")
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, ref := range []string{
		"--upload-pack=touch " + marker,
		"--upload-pack=touch${IFS}" + marker,
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"a;touch " + marker,
		"a;b",
		"a|b",
		"a&&b",
		"../../etc",
		"../../../../" + marker,
		"-x",
		"a b",
		"a..b",
		"x.lock",
		".hidden",
		"a\nb",
		"HEAD@{1}",
		"'quoted'",
		"\"quoted\"",
	} {
		_, err := r.Fetch(context.Background(), ref)
		wantCode(t, err, bluegreen.EINVALID)
		if exists(marker) {
			t.Fatalf("Fetch(%q) created %s", ref, marker)
		}
	}
	if log := gitRuns(); log != "" {
		t.Fatalf("git ran for a refused ref:\n%s", log)
	}
	// The wrapper does record real runs, so the check above can fail.
	if _, err := r.Fetch(context.Background(), "production"); err != nil {
		t.Fatal(err)
	}
	if log := gitRuns(); !strings.Contains(log, "fetch") || !strings.Contains(log, "--end-of-options") {
		t.Fatalf("git log after a good fetch = %q, want a fetch with --end-of-options", log)
	}
}

// TestCallerEnvironmentAndHooksAreIgnored sets git variables that would run a
// command (a hooks path, an ssh command, a config injection) and installs a
// hook in the cache; a fetch must work and run none of them.
func TestCallerEnvironmentAndHooksAreIgnored(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	tmp := t.TempDir()
	marker := filepath.Join(tmp, "pwned")
	hook := "#!/bin/sh\ntouch " + marker + "\n"
	hooks := filepath.Join(tmp, "hooks")
	for _, dir := range []string{hooks, filepath.Join(r.Dir(), "hooks")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"reference-transaction", "post-checkout", "pre-auto-gc"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("GIT_DIR", filepath.Join(tmp, "elsewhere.git"))
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
	t.Setenv("GIT_CONFIG_VALUE_0", hooks)
	t.Setenv("GIT_CONFIG_PARAMETERS", "'core.hookspath'='"+hooks+"'")
	t.Setenv("GIT_SSH_COMMAND", "touch "+marker)
	t.Setenv("GIT_PROXY_COMMAND", "touch "+marker)
	t.Setenv("GIT_ALLOW_PROTOCOL", "ext")

	c, err := r.Fetch(context.Background(), "green")
	if err != nil {
		t.Fatalf("Fetch with a hostile environment: %v", err)
	}
	if want := src.git("rev-parse", "green"); c.SHA != want {
		t.Fatalf("Fetch(green) = %s, want %s", c.SHA, want)
	}
	if err := r.Checkout(context.Background(), c.SHA, filepath.Join(tmp, "release")); err != nil {
		t.Fatal(err)
	}
	if exists(marker) {
		t.Fatal("a hook or a caller's git variable ran a command")
	}
	if exists(filepath.Join(tmp, "elsewhere.git")) {
		t.Fatal("the caller's GIT_DIR was used")
	}
}
