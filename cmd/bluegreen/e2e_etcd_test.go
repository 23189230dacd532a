package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/statestore"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// etcdConfig writes a config whose state is on the etcd at ep (under
// prefix), with its local files in dir/local.
func etcdConfig(t *testing.T, dir, blue, green, ep, prefix string) string {
	t.Helper()
	path := writeConfig(t, dir, blue, green, "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "state: state\n", "state: etcd://"+ep+"/"+prefix+"\ndata_dir: local\n", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// stopServe stops s with SIGTERM and waits for it to exit.
func stopServe(t *testing.T, s *server) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
}

// TestServeOnEtcd runs one serve on etcd state: switches under load with
// no failed request, history and tokens through the CLI, and a restart
// that keeps the live color, the history and the tokens.
func TestServeOnEtcd(t *testing.T) {
	ep := strings.TrimPrefix(etcdtest.Start(t, 1)[0].ClientURL, "http://")
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	dir := t.TempDir()
	s := startServe(t, etcdConfig(t, dir, blue, green, ep, "e2e"))
	if _, err := os.Stat(filepath.Join(dir, "local", "api-token")); err != nil {
		t.Fatalf("the API token is not in data_dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "local", "state.db")); err == nil {
		t.Fatal("serve on etcd state made a state.db in data_dir")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	client := api.NewClient(s.apiAd, s.token, "e2e-tester")
	to := bluegreen.Green
	for i := range 5 {
		before := load.Snapshot().Requests
		if res, err := client.Switch(ctx, bluegreen.SwitchRequest{To: to}); err != nil || !res.Changed {
			t.Fatalf("switch %d: %+v, %v", i+1, res, err)
		}
		testenv.WaitFor(t, 10*time.Second, "traffic after a switch", func() bool { return load.Snapshot().Requests > before+20 })
		to = to.Other()
	}
	r := load.Stop()
	if r.Failed != 0 || r.ByColor["blue"] == 0 || r.ByColor["green"] == 0 {
		t.Fatalf("load over 5 switches on etcd state: %d of %d failed (%v %v), by color %v", r.Failed, r.Requests, r.Failures, r.FirstErrors, r.ByColor)
	}
	s.mustCLI(t, "token", "create", "--name", "ci", "--role", "deployer")

	check := func(s *server, when string) {
		t.Helper()
		st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
		if st.State.Live != bluegreen.Green {
			t.Errorf("%s: live %s, want green (after 5 switches from blue)", when, st.State.Live)
		}
		switches := 0
		for _, e := range decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--action", "switch", "-o", "json")) {
			if e.Outcome == bluegreen.OutcomeOK && e.Actor == "e2e-tester" {
				switches++
			}
		}
		if switches != 5 {
			t.Errorf("%s: history holds %d switches by e2e-tester, want 5", when, switches)
		}
		if out := s.mustCLI(t, "token", "list"); !strings.Contains(out, "ci") || !strings.Contains(out, "deployer") {
			t.Errorf("%s: token list lacks the ci token:\n%s", when, out)
		}
	}
	check(s, "on etcd")
	stopServe(t, s)
	s = startServe(t, s.config)
	check(s, "after a restart")
	if code, body, _ := get(t, "http://"+s.public+"/"); code != 200 || !strings.Contains(body, "green") {
		t.Errorf("after a restart the router answers %d %q, want green", code, body)
	}
}

// TestServeEtcdUnreachable: serve on an etcd nobody listens on fails at
// start, naming the store.
func TestServeEtcdUnreachable(t *testing.T) {
	testenv.LookPath(t, "etcd", "etcd-server", "/usr/bin/etcd") // the store's client is only built with etcd around
	port := strconv.Itoa(freePort(t))
	path := etcdConfig(t, t.TempDir(), "127.0.0.1:9", "127.0.0.1:10", "127.0.0.1:"+port, "gone")
	_, errOut, code := runCLI(t, "serve", "--config", path)
	if code == 0 || !strings.Contains(errOut, "state store unreachable") || !strings.Contains(errOut, "etcd://127.0.0.1:"+port) {
		t.Fatalf("serve on an unreachable etcd: exit %d, stderr %q; want a failure naming the store", code, errOut)
	}
}

// TestStateCopyCLI copies a serve's SQLite state to etcd and back with the
// CLI, refuses a non-empty target, and sets a directory's state aside
// with --force.
func TestStateCopyCLI(t *testing.T) {
	ep := strings.TrimPrefix(etcdtest.Start(t, 1)[0].ClientURL, "http://")
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, ""))
	s.mustCLI(t, "switch", "green")
	s.mustCLI(t, "token", "create", "--name", "ci", "--role", "deployer")
	stopServe(t, s)
	src, url, back := filepath.Join(s.dir, "state"), "etcd://"+ep+"/copy", t.TempDir()

	out, errOut, code := runCLI(t, "--config", s.config, "state", "copy", "--from", src, "--to", url, "-o", "json")
	if code != 0 {
		t.Fatalf("state copy to etcd: exit %d\n%s%s", code, out, errOut)
	}
	r := decodeJSON[statestore.Report](t, out)
	if r.Live != bluegreen.Green || r.Tokens != 1 || r.Events == 0 || r.Revision == 0 || r.To != url {
		t.Fatalf("state copy report %+v", r)
	}
	if _, errOut, code := runCLI(t, "state", "copy", "--from", src, "--to", url); code == 0 || !strings.Contains(errOut, "not empty: it holds a state at revision") {
		t.Fatalf("copy onto a non-empty etcd prefix: exit %d, stderr %q", code, errOut)
	}
	out = strings.TrimSpace(s.mustCLI(t, "state", "copy", "--from", url, "--to", back))
	if !strings.HasPrefix(out, "copied "+url+" to "+back+": revision") {
		t.Fatalf("state copy back printed %q", out)
	}
	out = s.mustCLI(t, "state", "copy", "--from", src, "--to", back, "--force")
	if !strings.Contains(out, "the target's old state is in "+filepath.Join(back, "state.db.replaced-")) {
		t.Fatalf("state copy --force printed %q", out)
	}
	if out, errOut, code := runCLI(t, "state", "copy", "--from", filepath.Join(back, "nothing"), "--to", url+"2"); code != 2 || !strings.Contains(errOut, "no state there") || out != "" {
		t.Fatalf("a directory without state: exit %d, stdout %q, stderr %q; want 2, the reason, and nothing on stdout (an empty result was printed)", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "--config", bad, "state", "copy", "--from", src, "--to", url+"3"); code != 2 || !strings.Contains(errOut, "bad.yaml:1:") {
		t.Fatalf("a config that does not load: exit %d, stderr %q; want 2 naming it (it was ignored)", code, errOut)
	}
	if _, errOut, code := runCLI(t, "state", "copy", "--from", url+"2", "--to", back); code != 2 || !strings.Contains(errOut, "nothing to copy") {
		t.Fatalf("an empty etcd prefix: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(back, "nothing")); err == nil {
		t.Fatal("copying from a missing directory created it")
	}
	if _, errOut, code := runCLI(t, "state", "copy", "--from", "etcd://nohost/x", "--to", back); code != 2 || !strings.Contains(errOut, "host:port") {
		t.Fatalf("a bad URL: exit %d, stderr %q; want 2 and what is wrong", code, errOut)
	}
}
