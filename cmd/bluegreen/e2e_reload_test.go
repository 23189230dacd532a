package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// reloadAndWait sends SIGHUP to serve and waits for the reload's event,
// returning its message.
func reloadAndWait(t *testing.T, s *server) string {
	t.Helper()
	return signalAndWait(t, s, s.cmd.Process.Pid, syscall.SIGHUP, func(msg string) bool {
		return strings.HasPrefix(msg, "configuration reloaded") || strings.HasPrefix(msg, "reload ")
	}, "--actor", "bluegreen (reload)")
}

// signalAndWait sends sig to pid and waits for an event newer than the
// ones there were, among those history lists with the filter flags, whose
// message match accepts; it returns that message.
func signalAndWait(t *testing.T, s *server, pid int, sig syscall.Signal, match func(msg string) bool, filter ...string) string {
	t.Helper()
	list := func() []bluegreen.Event {
		return decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, append([]string{"history", "-o", "json", "--limit", "1000"}, filter...)...))
	}
	before := len(list())
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	var msg string
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("the event %v causes", sig), func() bool {
		evs := list()
		for _, ev := range evs[:len(evs)-before] {
			if match(ev.Message) {
				msg = ev.Message
				return true
			}
		}
		return false
	})
	return msg
}

// TestReloadOnSIGHUP: SIGHUP applies a changed branch and upstreams at
// once, with the load running and nothing failing; a broken file changes
// nothing and says where it is broken; settings that need a restart are
// named.
func TestReloadOnSIGHUP(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	green2, _ := startApp(t, "green2")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, blue, green, "")
	s := startServe(t, cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()

	// A broken file: refused, with its position; nothing changes.
	good, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(good), "branch: green", "branch: [green]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := reloadAndWait(t, s); !strings.Contains(msg, "reload refused, nothing changed") || !strings.Contains(msg, "bluegreen.yaml:") {
		t.Fatalf("reload of a broken file: %q", msg)
	}

	// The rename and a new upstream for green, plus a setting that needs a restart.
	next := strings.Replace(string(good), "branch: production", "branch: blue", 1)
	next = strings.Replace(next, "upstreams: ["+green+"]", "upstreams: ["+green2+"]", 1)
	next = strings.Replace(next, "drain_timeout: 3s", "drain_timeout: 4s", 1)
	if err := os.WriteFile(cfgPath, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := reloadAndWait(t, s)
	if !strings.HasPrefix(msg, "configuration reloaded") || !strings.Contains(msg, "take effect only when serve restarts: Router") {
		t.Fatalf("reload message: %q", msg)
	}
	st := status(t, s)
	if st.State.Colors[bluegreen.Blue].Branch != "blue" || strings.Join(st.State.Colors[bluegreen.Green].Upstreams, ",") != green2 {
		t.Fatalf("after the reload: blue %+v, green %+v", st.State.Colors[bluegreen.Blue], st.State.Colors[bluegreen.Green])
	}
	// The preview listener serves green from its new upstream.
	testenv.WaitFor(t, 10*time.Second, "green's new upstream to serve the preview listener", func() bool {
		_, body, _ := get(t, "http://"+s.preview+"/")
		return strings.Contains(body, `"color":"green2"`)
	})
	testenv.WaitFor(t, 10*time.Second, "green to be healthy on its new upstream", func() bool {
		return status(t, s).State.Colors[bluegreen.Green].Health.Status == bluegreen.HealthHealthy
	})
	s.mustCLI(t, "switch", "green")
	res := load.Stop()
	if res.Failed != 0 || res.ByColor["green"] == 0 {
		t.Fatalf("load across the reloads and the switch: %d requests, %d failed %v, by color %v", res.Requests, res.Failed, res.Failures, res.ByColor)
	}
}
