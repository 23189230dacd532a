package main

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/demo"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// fleet is a serve whose colors run on hosts of their own, each host an
// agent (`bluegreen agent`) in a directory of its own with its app on a
// loopback port of its own: what separate machines would be.
type fleet struct {
	*server
	repo  *appRepo
	hosts []*fleetHost
}

// fleetHost is one host of a fleet.
type fleetHost struct {
	name, color string
	ip          string // the address its app binds to
	port        int
	dir         string // the agent's directory
	tokenFile   string
	agent       *proc
}

// fleetApp is the app section of a fleet's config: the sample app on the
// host's address ($BLUEGREEN_ADDRESS), and build steps that a file in the release can slow
// (SLOW_BUILD_<host>: waits for the repo's gate file) or fail
// (FAIL_BUILD_<host>) on one host.
func fleetApp(r *appRepo, extra string) string {
	return `app:
  repo: ` + r.dir + `
  run: 'exec "$APP_BIN" sample-app --listen "$BLUEGREEN_ADDRESS" --version "$(cat VERSION)"'
  build:
    - 'echo "building $BLUEGREEN_REF ($BLUEGREEN_SHA) on $BLUEGREEN_HOST for $BLUEGREEN_COLOR"'
    - 'if [ -f "SLOW_BUILD_$BLUEGREEN_HOST" ]; then echo waiting; while [ ! -f "$GATE" ]; do sleep 0.05; done; fi'
    - 'if [ -f "FAIL_BUILD_$BLUEGREEN_HOST" ]; then echo "compile error on $BLUEGREEN_HOST" >&2; exit 7; fi'
  env:
    APP_BIN: ` + binPath + `
    GATE: ` + r.gate + `
  start_timeout: 10s
  stop_grace: 2s
` + extra
}

// startFleet starts serve with n hosts per color (blue app-1..n, green
// app-n+1..2n), top-level settings top and app keys appExtra (indented by
// two spaces), creates each host's agent token and starts its agent.
func startFleet(t *testing.T, n int, top, appExtra string) *fleet {
	t.Helper()
	return startFleetOn(t, n, top, appExtra, nil)
}

// startFleetOn is startFleet with each color's hosts on the loopback
// address ips[color] (127.0.0.1 for a color ips lacks). With ips set, the
// i-th host of green has the port of the i-th host of blue, as the same
// service on two machines would.
func startFleetOn(t *testing.T, n int, top, appExtra string, ips map[string]string) *fleet {
	t.Helper()
	f, cfg := planFleet(t, n, top, appExtra, ips)
	path := filepath.Join(t.TempDir(), "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	f.server = startServe(t, path)
	f.startAgents(t)
	return f
}

// planFleet makes startFleetOn's repository, hosts and configuration (with
// `state: state` on a line of its own), and starts nothing.
func planFleet(t *testing.T, n int, top, appExtra string, ips map[string]string) (*fleet, string) {
	t.Helper()
	r := newAppRepo(t)
	f := &fleet{repo: r}
	hostsOf := map[string][]string{}
	var ports []int
	for i := range 2 * n {
		col := "blue"
		if i >= n {
			col = "green"
		}
		port := freePort(t)
		if ips != nil && i >= n {
			port = ports[i-n]
		}
		ports = append(ports, port)
		ip := cmp.Or(ips[col], "127.0.0.1")
		h := &fleetHost{name: fmt.Sprintf("app-%d", i+1), color: col, ip: ip, port: port, dir: filepath.Join(t.TempDir(), "agent")}
		f.hosts = append(f.hosts, h)
		hostsOf[col] = append(hostsOf[col], fmt.Sprintf("{name: %s, address: '%s'}", h.name, h.addr()))
		t.Cleanup(func() {
			if err := demo.StopApps(binPath, h.dir); err != nil {
				t.Logf("stopping %s's app: %v", h.name, err)
			}
		})
	}
	// A fixed API port: a serve restarted on the same config is where the
	// agents look for it.
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:%d
state: state
router: {drain_timeout: 3s}
%s
%s
blue:
  branch: production
  hosts: [%s]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
green:
  branch: green
  hosts: [%s]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
`, freePort(t), top, fleetApp(r, appExtra), strings.Join(hostsOf["blue"], ", "), strings.Join(hostsOf["green"], ", "))
	return f, cfg
}

// startAgents creates each host's agent token through f's serve and starts
// the agents, reporting to f's serve, and waits for their reports.
func (f *fleet) startAgents(t *testing.T) {
	t.Helper()
	for _, h := range f.hosts {
		secret := strings.TrimSpace(f.mustCLI(t, "token", "create", "--name", "agent-"+h.name, "--role", "agent", "--host", h.name))
		h.tokenFile = filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(h.tokenFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.startAgent(t, h)
	}
	f.waitAgents(t, f.hosts...)
}

// addr is h's address, ip:port.
func (h *fleetHost) addr() string { return net.JoinHostPort(h.ip, strconv.Itoa(h.port)) }

// startAgent starts h's agent, reporting every 100ms.
func (f *fleet) startAgent(t *testing.T, h *fleetHost) {
	t.Helper()
	h.agent = start(t, "agent", "--server", f.apiAd, "--token-file", h.tokenFile, "--host", h.name,
		"--dir", h.dir, "--interval", "100ms")
}

// host returns the host named name.
func (f *fleet) host(name string) *fleetHost {
	for _, h := range f.hosts {
		if h.name == name {
			return h
		}
	}
	panic("no host " + name)
}

// colorHosts returns the hosts of color.
func (f *fleet) colorHosts(color string) []*fleetHost {
	var out []*fleetHost
	for _, h := range f.hosts {
		if h.color == color {
			out = append(out, h)
		}
	}
	return out
}

// agentSeen returns what status says of each host's agent, by host name.
func (f *fleet) agentSeen(t *testing.T) map[string]*bluegreen.AgentSeen {
	t.Helper()
	st := decodeJSON[bluegreen.Status](t, f.mustCLI(t, "status", "-o", "json"))
	out := map[string]*bluegreen.AgentSeen{}
	for _, cs := range st.State.Colors {
		for _, h := range cs.Health.Hosts {
			out[h.Name] = h.Agent
		}
	}
	return out
}

// waitAgents waits until status shows a report of each of hosts' agents
// from their current process.
func (f *fleet) waitAgents(t *testing.T, hosts ...*fleetHost) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "every agent's report", func() bool {
		seen := f.agentSeen(t)
		return !slices.ContainsFunc(hosts, func(h *fleetHost) bool {
			a := seen[h.name]
			return a == nil || a.Report.PID != h.agent.cmd.Process.Pid
		})
	})
}

// versionAt returns the version the app on h answers with ("" when it
// does not answer).
func versionAt(h *fleetHost) string {
	code, body, err := getMaybe("http://" + h.addr() + "/")
	if err != nil || code != 200 {
		return ""
	}
	_, v, ok := strings.Cut(body, `"version":"`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// wantVersions fails unless every host of color answers version.
func (f *fleet) wantVersions(t *testing.T, color, version string) {
	t.Helper()
	for _, h := range f.colorHosts(color) {
		if got := versionAt(h); got != version {
			t.Errorf("%s (%s) answers version %q, want %q", h.name, color, got, version)
		}
	}
}
