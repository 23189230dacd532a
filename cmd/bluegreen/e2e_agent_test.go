package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestAgentVerb: `bluegreen agent` with the host's agent token in a
// --token-file reports to a real serve (status shows app-3's agent with
// its pid and version) and ends cleanly on SIGTERM; a missing --host and a
// token file others may read are usage errors.
func TestAgentVerb(t *testing.T) {
	t.Parallel()
	blue, _ := startApp(t, "blue")
	app3, _ := startApp(t, "green")
	app4, _ := startApp(t, "green")
	s := startServe(t, writeHostsConfig(t, blue, app3, app4))
	secret := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "agent-app-3", "--role", "agent", "--host", "app-3"))
	tokenFile := filepath.Join(t.TempDir(), "agent-token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "agent")
	args := []string{"agent", "--server", s.apiAd, "--token-file", tokenFile, "--dir", dir}

	if _, errOut, code := runCLI(t, args...); code != exitUsage || !strings.Contains(errOut, "--host") {
		t.Errorf("agent without --host: exit %d, %q; want %d asking for it", code, errOut, exitUsage)
	}
	args = append(args, "--host", "app-3", "--interval", "100ms")
	if _, errOut, code := runCLI(t, args...); code != exitUsage || !strings.Contains(errOut, "make it 0600") {
		t.Errorf("agent with a token file of mode 0644: exit %d, %q; want %d asking for 0600", code, errOut, exitUsage)
	}
	if err := os.Chmod(tokenFile, 0o600); err != nil {
		t.Fatal(err)
	}

	agent := start(t, args...)
	pid := agent.cmd.Process.Pid
	testenv.WaitFor(t, 20*time.Second, "status to show app-3's agent", func() bool {
		st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
		hosts := st.State.Colors[bluegreen.Green].Health.Hosts
		i := slices.IndexFunc(hosts, func(h bluegreen.HostHealth) bool { return h.Name == "app-3" })
		return i >= 0 && hosts[i].Agent != nil && hosts[i].Agent.Report.PID == pid && hosts[i].Agent.Report.Version != ""
	})
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not end within 20s of SIGTERM")
	}
	if code := agent.cmd.ProcessState.ExitCode(); code != exitOK {
		t.Errorf("the agent ended with exit %d on SIGTERM, want 0:\n%s", code, agent.stderr.String())
	}
}
