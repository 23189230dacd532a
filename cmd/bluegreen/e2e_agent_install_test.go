package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bluegreen/bluegreen/agent/sshinstall"
	"github.com/bluegreen/bluegreen/internal/demo"
	"github.com/bluegreen/bluegreen/internal/sshdtest"
)

// TestAgentInstall (issue 26): `bluegreen agent install` over a real sshd
// (--init none: no systemd here) puts this very binary on green's host
// app-2 with its agent token, starts the agent and waits until serve has
// its report; a deploy then goes through the installed agent. A known_hosts
// that holds another key for the host is refused before anything is
// copied.
func TestAgentInstall(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 1, "watch: {enabled: false}", "")
	app2 := f.host("app-2")
	// The agent startFleet started stands down: the installed one replaces it.
	if err := app2.agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-app2.agent.done

	sshd := sshdtest.Start(t)
	remote := filepath.Join(t.TempDir(), "host")
	agentDir, remoteBin := filepath.Join(remote, "agent"), filepath.Join(remote, "bluegreen")
	t.Cleanup(func() { _ = demo.StopApps(binPath, agentDir) })
	args := []string{"agent", "install", sshd.Target, "--host", "app-2", "--agent-token-file", app2.tokenFile,
		"--agent-server", "http://" + f.apiAd, "--identity", sshd.Identity, "--init", "none", "--dir", agentDir,
		"--binary", binPath, "--remote-binary", remoteBin, "--timeout", "60s"}

	// Another key for the host in known_hosts: refused, nothing written.
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(wrong, []byte(sshd.OtherKeyLine(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := f.cli(t, append(args, "--known-hosts", wrong)...)
	if code == exitOK || !strings.Contains(errOut, wrong) || !strings.Contains(errOut, "SHA256:") {
		t.Errorf("install with another host key known: exit %d, %q; want refused naming the file and the key", code, errOut)
	}
	if _, err := os.Stat(remote); !os.IsNotExist(err) {
		t.Errorf("a refused install wrote %s (%v)", remote, err)
	}

	out, errOut, code := f.cli(t, append(args, "--known-hosts", sshd.KnownHosts, "-o", "json")...)
	if code != exitOK {
		t.Fatalf("agent install: exit %d\n%s\nsshd: %s", code, errOut, sshd.Log())
	}
	res := decodeJSON[sshinstall.Result](t, out)
	t.Cleanup(func() {
		if res.PID > 0 {
			_ = syscall.Kill(res.PID, syscall.SIGTERM)
		}
	})
	for _, want := range []string{"connecting to " + sshd.Target, "writing the agent token", "started the agent of app-2"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the progress lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out+errOut, strings.TrimSpace(readFile(t, app2.tokenFile))) {
		t.Error("the agent token appears in the output")
	}
	if fi, err := os.Stat(res.TokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the token file on the host: %v, %v; want mode 0600", fi, err)
	}
	if a := f.agentSeen(t)["app-2"]; a == nil || a.Report.PID != res.PID {
		t.Fatalf("serve knows app-2's agent as %+v; want the installed agent's report (pid %d)", a, res.PID)
	}

	// The installed agent deploys like any other.
	f.mustCLI(t, "deploy", "blue")
	f.repo.commit(t, "green", "v2", map[string]string{"VERSION": "v2\n"})
	f.mustCLI(t, "deploy", "green")
	f.wantVersions(t, "green", "v2")
}

// readFile returns the content of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
