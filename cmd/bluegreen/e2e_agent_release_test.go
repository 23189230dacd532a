package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestAgentReleaseArchive (issue 26, third step): serve deploys green, a
// color of one host, from a real git repository with the command driver;
// the agent token of that host fetches green's release as a tar archive of
// the exact commit through the API, and the agent of blue's host is
// answered 404 for green's sha.
func TestAgentReleaseArchive(t *testing.T) {
	t.Parallel()
	r := newAppRepo(t)
	greenSHA := r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n", "NOTE": "note of v2\n"})
	dir, pids := t.TempDir(), t.TempDir()
	bluePort, greenPort := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
watch: {enabled: false}
app:
  repo: %q
  driver: command
  command:
    deploy: 'if [ "$BLUEGREEN_COLOR" = green ]; then P=$GREEN_PORT; else P=$BLUE_PORT; fi; PORT=$P setsid "$APP_BIN" sample-app --version "$(cat VERSION)" > app.log 2>&1 < /dev/null & echo $! > "$PIDS/$BLUEGREEN_COLOR.pid"'
    stop: 'f="$PIDS/$BLUEGREEN_COLOR.pid"; if [ -f "$f" ]; then p=$(cat "$f"); kill $p 2>/dev/null; while kill -0 $p 2>/dev/null; do sleep 0.05; done; rm -f "$f"; fi'
  env:
    APP_BIN: %s
    PIDS: %s
    BLUE_PORT: "%d"
    GREEN_PORT: "%d"
  start_timeout: 5s
blue:
  branch: production
  hosts: [{name: app-1, address: "127.0.0.1:%d"}]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
green:
  branch: green
  hosts: [{name: app-2, address: "127.0.0.1:%d"}]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
`, r.dir, binPath, pids, bluePort, greenPort, bluePort, greenPort)
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	killPidFilesAtEnd(t, pids)
	s := startServe(t, path)
	s.mustCLI(t, "deploy", "green")

	agent := func(host string) *api.Client {
		secret := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "agent-"+host, "--role", "agent", "--host", host))
		return api.NewClient("http://"+s.apiAd, secret, "agent@"+host)
	}
	green, blue := agent("app-2"), agent("app-1")

	var buf bytes.Buffer
	if err := green.ReleaseArchive(t.Context(), "app-2", greenSHA, &buf); err != nil {
		t.Fatalf("green's host fetching green's release %s: %v", greenSHA, err)
	}
	files := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = string(b)
		}
	}
	if files["VERSION"] != "v2\n" || files["NOTE"] != "note of v2\n" {
		t.Errorf("archive of green's release holds %q; want VERSION v2 and NOTE", files)
	}

	// Blue's host may not have green's release, once serve knows the host.
	testenv.WaitFor(t, 15*time.Second, "GET /v1/agent/app-1 to know app-1", func() bool {
		_, err := blue.HostInfo(t.Context(), "app-1")
		return err == nil
	})
	buf.Reset()
	err := blue.ReleaseArchive(t.Context(), "app-1", greenSHA, &buf)
	if bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND || bluegreen.ErrorMessage(err) != "host app-1's color has no release "+greenSHA+" (nor does a deployment order the host to run it)" || buf.Len() != 0 {
		t.Errorf("blue's host fetching green's release: %v (%d bytes); want 404 naming the sha, nothing written", err, buf.Len())
	}
	// Nor green's host another host's route.
	if err := green.ReleaseArchive(t.Context(), "app-1", greenSHA, &buf); bluegreen.ErrorCode(err) != bluegreen.EFORBIDDEN {
		t.Errorf("green's agent on app-1's route: %v, want forbidden", err)
	}
}
