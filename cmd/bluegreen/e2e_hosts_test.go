package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// TestColorOfHosts (issue 26, first step): green lists two hosts, one of
// them down. Status reports each host's health (the down one with its
// reason), a switch to green is refused while it is unhealthy, and once the
// host is back the switch goes through under load with no failed request.
func TestColorOfHosts(t *testing.T) {
	t.Parallel()
	blue, _ := startApp(t, "blue")
	app3, _ := startApp(t, "green")
	app4, p4 := startApp(t, "green")
	p4.kill9(t) // the host app-4 is down

	cfg := writeHostsConfig(t, blue, app3, app4)
	s := startServe(t, cfg)

	// hostsSay waits until status reports green's hosts as want (healthy or
	// not, in order) and returns them.
	hostsSay := func(what string, want ...bool) []bluegreen.HostHealth {
		t.Helper()
		var hosts []bluegreen.HostHealth
		testenv.WaitFor(t, 15*time.Second, what, func() bool {
			hosts = status(t, s).State.Colors[bluegreen.Green].Health.Hosts
			if len(hosts) != len(want) {
				return false
			}
			for i, h := range hosts {
				if h.Healthy != want[i] {
					return false
				}
			}
			return true
		})
		return hosts
	}
	hosts := hostsSay("status to show app-3 healthy and app-4 unhealthy", true, false)
	if h := hosts[0]; h.Name != "app-3" || h.Address != app3 || h.Reason != "" || h.Checked.IsZero() {
		t.Errorf("app-3: %+v, want healthy at %s, checked", h, app3)
	}
	if h := hosts[1]; h.Name != "app-4" || h.Address != app4 || !strings.Contains(h.Reason, "connection refused") || h.Checked.IsZero() {
		t.Errorf("app-4: %+v, want unhealthy at %s with the probe's error (connection refused)", h, app4)
	}
	st := status(t, s)
	if blueHosts := st.State.Colors[bluegreen.Blue].Health.Hosts; blueHosts != nil {
		t.Errorf("blue lists upstreams, not hosts: Health.Hosts = %+v, want none", blueHosts)
	}
	if up := st.State.Colors[bluegreen.Green].Upstreams; len(up) != 2 || up[0] != app3 || up[1] != app4 {
		t.Errorf("green's upstreams = %v, want the hosts' addresses %s, %s", up, app3, app4)
	}
	text := s.mustCLI(t, "status")
	for _, want := range []string{"green  app-3  " + app3 + "  healthy\n", "green  app-4  " + app4 + "  UNHEALTHY: "} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()

	if out, errOut, code := s.cli(t, "switch", "green"); code == 0 || !strings.Contains(errOut, "green is unhealthy") || !strings.Contains(errOut, app4) {
		t.Fatalf("switch to green with app-4 down: exit %d, stdout %q, stderr %q; want refused naming app-4's address", code, out, errOut)
	}

	start(t, "sample-app", "--color", "green", "--listen", app4).readUntil(t, "listening on") // app-4 is back
	hostsSay("status to show both hosts healthy", true, true)
	if out := s.mustCLI(t, "switch", "green"); !strings.Contains(out, "switched blue → green") {
		t.Fatalf("switch output: %q", out)
	}
	testenv.WaitFor(t, 20*time.Second, "200 requests answered by green", func() bool { return load.Snapshot().ByColor["green"] >= 200 })
	res := load.Stop()
	if res.Failed != 0 || res.ByColor["blue"] == 0 {
		t.Fatalf("load: %d requests (%v by color), %d failed (%v %v)", res.Requests, res.ByColor, res.Failed, res.Failures, res.FirstErrors)
	}
	t.Logf("switch onto 2 hosts: %d requests (%v), 0 failed", res.Requests, res.ByColor)

	// A renamed host is a reload away, without a restart.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "name: app-4", "name: app-5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := reloadAndWait(t, s); msg != "configuration reloaded" {
		t.Fatalf("reload after renaming a host: %q, want \"configuration reloaded\" (nothing to restart for)", msg)
	}
	if hosts := hostsSay("status to show the renamed host", true, true); hosts[1].Name != "app-5" || hosts[1].Address != app4 {
		t.Fatalf("after the reload: %+v, want app-5 at %s", hosts[1], app4)
	}
}
