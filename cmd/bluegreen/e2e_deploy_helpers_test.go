package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen/bluegreen/internal/demo"
)

// appRepo is a real git repository holding a tiny app: the bluegreen
// sample-app started with the VERSION file of the checked-out release.
// Marker files change its behaviour per commit: FAIL_BUILD fails a build
// step, NO_HEALTH starts something that never answers, SLOW_BUILD waits in
// a build step until the test's gate file exists, or its directory is gone
// (a build orphaned by a killed serve must not outlive the test).
type appRepo struct {
	dir  string
	gate string
	// block, while it exists, makes the pre_switch hook fail; the
	// post_switch hook appends "<from> -> <to>" lines to switchLog.
	block, switchLog string
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "init.defaultBranch=production"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newAppRepo(t *testing.T) *appRepo {
	t.Helper()
	tmp := t.TempDir()
	r := &appRepo{dir: filepath.Join(t.TempDir(), "app"), gate: filepath.Join(tmp, "gate"),
		block: filepath.Join(tmp, "block"), switchLog: filepath.Join(tmp, "switches.log")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, r.dir, "init", "-q")
	r.commit(t, "production", "v1", map[string]string{"VERSION": "v1\n"})
	git(t, r.dir, "branch", "green")
	t.Cleanup(func() { _ = os.WriteFile(r.gate, nil, 0o644) }) // release a build step still waiting
	return r
}

// commit writes files (an empty value removes the file) on branch and
// returns the new commit's sha.
func (r *appRepo) commit(t *testing.T, branch, msg string, files map[string]string) string {
	t.Helper()
	if out := git(t, r.dir, "branch", "--list", branch); out != "" {
		git(t, r.dir, "checkout", "-q", branch)
	}
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			_ = os.Remove(p)
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, r.dir, "add", "-A")
	git(t, r.dir, "commit", "-q", "--allow-empty", "-m", msg)
	sha := git(t, r.dir, "rev-parse", "HEAD")
	git(t, r.dir, "checkout", "-q", "production")
	return sha
}

// freePort returns a port on 127.0.0.1 that nothing listens on, for a
// process the test starts later (an app, a serve listener, a Prometheus),
// never the same twice in this process (demo.FreePort says why it is not
// a port the kernel picks).
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	port, err := demo.FreePort(portsGiven)
	if err != nil {
		t.Fatal(err)
	}
	portsGiven[port] = true
	return port
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// writeAppConfig writes a config whose colors are deployed from r. The
// deploy tests deploy right after switching; the watch (which keeps the
// previous color for a rollback) is off here and has tests of its own.
func writeAppConfig(t *testing.T, dir string, r *appRepo) string {
	return writeAppConfigWith(t, dir, r, "watch: {enabled: false}", "")
}

// writeAppConfigWith is writeAppConfig with top-level settings top and
// lines appExtra (indented by two spaces) added to the app section.
func writeAppConfigWith(t *testing.T, dir string, r *appRepo, top, appExtra string) string {
	t.Helper()
	app := `  run: 'if [ -f NO_HEALTH ]; then exec sleep 600; fi; exec "$APP_BIN" sample-app --version "$(cat VERSION)" --fail-every "$(cat FAIL_EVERY 2>/dev/null || echo 0)"'
  build:
    - 'echo "building $BLUEGREEN_REF ($BLUEGREEN_SHA) for $BLUEGREEN_COLOR"'
    - 'if [ -f FAIL_BUILD ]; then echo "compile error: FAIL_BUILD is present" >&2; exit 7; fi'
    - 'if [ -f SLOW_BUILD ]; then echo $$ > "$GATE.pid"; ( while [ ! -f "$GATE" ] && [ -d "${GATE%/*}" ]; do sleep 0.05; done ) & echo $! > "$GATE.child"; echo waiting; wait; fi'
    - 'if [ -f build.sh ]; then sh build.sh; fi'
  env:
    APP_BIN: ` + binPath + `
    GATE: ` + r.gate + `
    BLOCK: ` + r.block + `
    SWITCH_LOG: ` + r.switchLog + `
  hooks:
    pre_deploy: 'echo "pre-deploy of $BLUEGREEN_REF into $BLUEGREEN_COLOR"'
    pre_switch: 'if [ -f "$BLOCK" ]; then echo "switch blocked by $BLOCK" >&2; exit 1; fi'
    post_switch: 'echo "$BLUEGREEN_FROM -> $BLUEGREEN_COLOR" >> "$SWITCH_LOG"'
    notify: 'echo "$BLUEGREEN_EVENT $BLUEGREEN_COLOR: $BLUEGREEN_MESSAGE" >> "$SWITCH_LOG.notify"'
  start_timeout: 3s
  stop_grace: 2s`
	if appExtra != "" {
		app = appExtra + "\n" + app
	}
	cfg := demo.AppConfig{Top: "state: state\nrouter:\n  drain_timeout: 3s\n" + top, Repo: r.dir, App: app,
		BluePort: freePort(t), GreenPort: freePort(t)}.YAML()
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// stopApps stops the apps a serve left running under stateDir (they
// outlive serve by design), through their supervisors.
func stopApps(t *testing.T, stateDir string) {
	t.Helper()
	if err := demo.StopApps(binPath, stateDir); err != nil {
		t.Logf("stopping the apps under %s: %v", stateDir, err)
	}
}
