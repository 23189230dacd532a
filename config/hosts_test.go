package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func TestHostsAreTheUpstreams(t *testing.T) {
	c := mustLoad(t, "testdata/good/hosts.yaml")
	blue, green := c.Colors[bluegreen.Blue], c.Colors[bluegreen.Green]
	if want := []Host{{"app-1", "10.0.0.1:8000"}, {"app-2", "app-2.internal:8000"}}; !reflect.DeepEqual(blue.Hosts, want) {
		t.Errorf("blue.Hosts = %v, want %v", blue.Hosts, want)
	}
	if want := []string{"10.0.0.1:8000", "app-2.internal:8000"}; !reflect.DeepEqual(blue.Upstreams, want) {
		t.Errorf("blue.Upstreams = %v, want %v (the hosts' addresses in order)", blue.Upstreams, want)
	}
	if want := []Host{{"app-3", "10.0.0.3:8000"}, {"app-4", "[fd00::4]:8000"}}; !reflect.DeepEqual(green.Hosts, want) {
		t.Errorf("green.Hosts = %v, want %v", green.Hosts, want)
	}
	if want := []string{"10.0.0.3:8000", "[fd00::4]:8000"}; !reflect.DeepEqual(green.Upstreams, want) {
		t.Errorf("green.Upstreams = %v, want %v", green.Upstreams, want)
	}
	if blue.Ports != nil || green.Ports != nil {
		t.Errorf("Ports = %v, %v: want none with hosts", blue.Ports, green.Ports)
	}
	// A single-machine config has no hosts.
	if m := mustLoad(t, "testdata/good/minimal.yaml"); m.Colors[bluegreen.Blue].Hosts != nil {
		t.Errorf("minimal.yaml: Hosts = %v, want nil", m.Colors[bluegreen.Blue].Hosts)
	}
}

// The command driver deploys with the team's own commands, so it may deploy
// onto hosts as it may onto upstreams: its hosts are not run by agents.
func TestHostsWithTheCommandDriver(t *testing.T) {
	c, err := Parse("", []byte(`
listen: 127.0.0.1:8080
preview: 127.0.0.1:8081
api: 127.0.0.1:8082
app:
  repo: /srv/app
  driver: command
  command: {deploy: ./deploy.sh, stop: ./stop.sh}
blue:
  branch: blue
  hosts: [{name: app-1, address: 10.0.0.1:8000}]
green:
  branch: green
  hosts: [{name: app-2, address: 10.0.0.2:8000}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Colors[bluegreen.Green].Upstreams; !reflect.DeepEqual(got, []string{"10.0.0.2:8000"}) {
		t.Errorf("green.Upstreams = %v", got)
	}
	if c.Agents() {
		t.Error("Agents() = true with the command driver, want false")
	}
}

// With the process driver, a color's hosts are run by agents, with the
// app keys that tune how a deploy goes across them.
func TestHostsRunByAgents(t *testing.T) {
	c := mustLoad(t, "testdata/good/hosts_agents.yaml")
	if !c.Agents() {
		t.Fatal("Agents() = false, want true (driver process with hosts)")
	}
	if a := c.App; a.MaxParallel != 2 || a.MinHealthy != 2 || a.AgentTimeout != 5*time.Second {
		t.Errorf("max_parallel %d, min_healthy %d, agent_timeout %s; want 2, 2, 5s", a.MaxParallel, a.MinHealthy, a.AgentTimeout)
	}
	if got := c.Colors[bluegreen.Green].HostNames(); !reflect.DeepEqual(got, []string{"app-4", "app-5", "app-6"}) {
		t.Errorf("green's hosts %v", got)
	}
	if m := mustLoad(t, "testdata/good/app_minimal.yaml"); m.Agents() || m.App.AgentTimeout != 15*time.Second {
		t.Errorf("app_minimal.yaml: Agents() %v, agent_timeout %s; want false and the default 15s", m.Agents(), m.App.AgentTimeout)
	}
}
