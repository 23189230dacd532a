package main

import (
	"bytes"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// startDrainingServe starts serve with its API on a fixed port (so that a
// restarted serve is found at the same address) and a request held open
// on blue for hold, which keeps a switch's drain going; it returns when
// blue has that request in flight.
func startDrainingServe(t *testing.T, hold time.Duration) *server {
	t.Helper()
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	cfg := writeConfig(t, t.TempDir(), blue, green, "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("api: 127.0.0.1:0"), []byte("api: 127.0.0.1:"+strconv.Itoa(freePort(t))), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, cfg)
	go func() {
		if resp, err := http.Get("http://" + s.public + "/slow?ms=" + strconv.Itoa(int(hold.Milliseconds()))); err == nil {
			resp.Body.Close()
		}
	}()
	testenv.WaitFor(t, 10*time.Second, "the slow request in flight on blue", func() bool {
		out, _, code := s.cli(t, "status", "-o", "json")
		return code == 0 && decodeJSON[bluegreen.Status](t, out).Traffic[bluegreen.Blue].InFlight == 1
	})
	return s
}

// TestSwitchWhoseAnswerIsLost (issue 23, finding 14a): serve is killed after
// it committed a switch, while the old color drains (before the answer);
// the CLI asks the restarted server what was committed, says the switch
// is committed with its figures unknown, and exits 0.
func TestSwitchWhoseAnswerIsLost(t *testing.T) {
	s := startDrainingServe(t, 2500*time.Millisecond)
	cmd := execCLI([]string{"--server", s.apiAd, "--token", s.token, "switch", "green"}, nil)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	testenv.WaitFor(t, 10*time.Second, "green live", func() bool {
		code, body, _ := getMaybe("http://" + s.apiAd + "/v1/color")
		return code == http.StatusOK && strings.Contains(body, "green")
	})
	s.kill9(t)
	s2 := startServe(t, s.config)
	select {
	case <-exited:
	case <-time.After(45 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the CLI did not end within 45s; stderr: %s", errOut.String())
	}
	code := cmd.ProcessState.ExitCode()
	if code != 0 || !strings.Contains(out.String(), "switched blue → green: committed") ||
		!strings.Contains(out.String(), "figures (switch time, drain) are unknown") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s\nwant exit 0 saying the switch is committed and its figures unknown", code, out.String(), errOut.String())
	}
	if col := strings.TrimSpace(s2.mustCLI(t, "color")); col != "green" {
		t.Fatalf("after the restart %s is live", col)
	}
}
