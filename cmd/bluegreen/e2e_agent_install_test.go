package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/agent/sshinstall"
	"github.com/bluegreen/bluegreen/internal/sshdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// standIn is the "binary" TestAgentInstall installs: called as `agent
// --host H --dir D --server URL --token-file F`, it reports once to serve
// as an agent does (POST /v1/agent/H with its agent token and its pid),
// then exits.
const standIn = `#!/bin/sh
curl -fsS -X POST -H "Authorization: Bearer $(cat "$9")" -H 'Content-Type: application/json' \
  -d "{\"version\":\"stand-in\",\"pid\":$$,\"supervised\":false}" "$7/v1/agent/$3" > "$5/report.json"
`

// TestAgentInstall (issue 26): `agent install` over a real sshd (--init
// none) puts a stand-in agent on the "host" with a real agent token; the
// verb waits until serve's status shows that agent's report, from the pid
// the install started, and prints the Result.
func TestAgentInstall(t *testing.T) {
	t.Parallel()
	curl := testenv.LookPath(t, "curl", "curl")
	blue, _ := startApp(t, "blue")
	app3, _ := startApp(t, "green")
	app4, _ := startApp(t, "green")
	s := startServe(t, writeHostsConfig(t, blue, app3, app4))
	secret := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "agent-app-3", "--role", "agent", "--host", "app-3"))
	sshd := sshdtest.Start(t)
	dir := t.TempDir()
	tokenFile, bin := filepath.Join(dir, "token"), filepath.Join(dir, "stand-in")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte(strings.Replace(standIn, "curl", curl, 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	g := &globals{server: "http://" + s.apiAd, token: s.token, output: "json", stdout: &out, stderr: &errOut}
	cmd := newAgentInstallCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs([]string{sshd.Target, "--host", "app-3", "--agent-token-file", tokenFile, "--identity", sshd.Identity,
		"--known-hosts", sshd.KnownHosts, "--init", "none", "--dir", filepath.Join(dir, "host", "agent"),
		"--binary", bin, "--remote-binary", filepath.Join(dir, "host", "bluegreen"), "--timeout", "30s"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd.SetContext(ctx)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("agent install: %v\nstderr:\n%s\nsshd: %s", err, errOut.String(), sshd.Log())
	}
	res := decodeJSON[sshinstall.Result](t, out.String())
	var seen *bluegreen.AgentSeen
	for _, h := range status(t, s).State.Colors[bluegreen.Green].Health.Hosts {
		if h.Name == "app-3" {
			seen = h.Agent
		}
	}
	if res.PID == 0 || seen == nil || seen.Report.PID != res.PID || seen.Report.Version != "stand-in" {
		t.Errorf("installed pid %d; serve knows app-3's agent as %+v; want the stand-in's report from that pid", res.PID, seen)
	}
	for _, want := range []string{"connecting to " + sshd.Target, "writing the agent token", "started the agent of app-3"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("the progress lacks %q:\n%s", want, errOut.String())
		}
	}
	if b, _ := json.Marshal(res); strings.Contains(out.String()+errOut.String()+string(b), secret) {
		t.Errorf("the agent token appears in the output")
	}
}
