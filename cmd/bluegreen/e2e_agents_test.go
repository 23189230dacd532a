package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// TestAgentsAcrossHosts: two colors of three hosts each, every host an
// agent of its own. Blue is deployed first (the bootstrap), then green
// across its three hosts in parallel; traffic switches to green under load
// with no failed request, rolls back to blue, and sync puts blue's release
// on green's hosts. Status and logs --host show each host.
func TestAgentsAcrossHosts(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 3, "watch: {enabled: false}", "")

	out := f.mustCLI(t, "deploy", "blue")
	if !strings.Contains(out, "3 of 3 hosts run") {
		t.Errorf("deploy blue's output lacks the hosts' summary:\n%s", out)
	}
	f.wantVersions(t, "blue", "v1")

	f.repo.commit(t, "green", "v2", map[string]string{"VERSION": "v2\n"})
	out = f.mustCLI(t, "deploy", "green")
	// In parallel: all three hosts were ordered before the first passed.
	firstHealthy := strings.Index(out, ": healthy")
	for _, h := range []string{"app-4", "app-5", "app-6"} {
		if i := strings.Index(out, h+": ordered to run"); i < 0 || firstHealthy < 0 || i > firstHealthy {
			t.Errorf("%s was not ordered before the first host passed (max_parallel unset: all at once):\n%s", h, out)
		}
		if !strings.Contains(out, h+": healthy") {
			t.Errorf("deploy green's output lacks %s passing:\n%s", h, out)
		}
	}
	f.wantVersions(t, "green", "v2")
	d := lastDeployment(t, f.server, "green")
	if len(d.Hosts) != 3 || d.Status != bluegreen.DeploymentSucceeded {
		t.Fatalf("green's deployment %+v; want succeeded with 3 hosts", d)
	}
	for _, h := range d.Hosts {
		if h.Status != bluegreen.HostOK || h.Phase != bluegreen.AgentStarted {
			t.Errorf("green's deployment on %s: %+v; want ok, started", h.Host, h)
		}
	}

	// Each host's agent in status; each host's own app log.
	status := f.mustCLI(t, "status")
	for _, h := range f.hosts {
		if !strings.Contains(status, h.name) || !strings.Contains(status, "agent ") {
			t.Errorf("status lacks %s's agent:\n%s", h.name, status)
		}
	}
	logs := f.mustCLI(t, "logs", "green", "--host", "app-5")
	if !strings.Contains(logs, "version v2") {
		t.Errorf("logs green --host app-5: %q; want the sample app's start line of v2", logs)
	}
	if _, errOut, code := f.cli(t, "logs", "green"); code == 0 || !strings.Contains(errOut, "logs green --host app-4") {
		t.Errorf("logs green without --host: exit %d, %q; want refused, naming --host", code, errOut)
	}
	if _, errOut, code := f.cli(t, "logs", "blue", "--host", "app-5"); code == 0 || !strings.Contains(errOut, "green") {
		t.Errorf("logs blue --host app-5: exit %d, %q; want refused, naming green", code, errOut)
	}

	// Switch under load, then roll back, with no failed request.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + f.public + "/", Connections: 4, Rate: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	waitServed(t, load, 100)
	f.mustCLI(t, "switch", "green")
	waitColorServed(t, load, "green", 200)
	f.mustCLI(t, "rollback")
	waitColorServed(t, load, "blue", 200)
	res := load.Stop()
	if res.Failed != 0 || res.Requests < 400 {
		t.Errorf("load through the switch and the rollback: %d of %d requests failed (%v); want 0", res.Failed, res.Requests, res.Failures)
	}
	t.Logf("load: %d requests, %d failed, by color %v", res.Requests, res.Failed, res.ByColor)

	// Sync: blue's release onto green's hosts, while logs -f follows
	// app-4: the new app's start line is printed as its agent reports it.
	follow := start(t, "--server", f.apiAd, "--token", f.token, "logs", "green", "--host", "app-4", "--follow")
	follow.readUntil(t, "version v2")
	out = f.mustCLI(t, "sync")
	if !strings.Contains(out, "3 of 3 hosts run") {
		t.Errorf("sync's output lacks the hosts' summary:\n%s", out)
	}
	f.wantVersions(t, "green", "v1")
	follow.readUntil(t, "version v1")
}

// lastDeployment returns color's last deployment, as the state keeps it.
func lastDeployment(t *testing.T, s *server, color string) bluegreen.Deployment {
	t.Helper()
	st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
	d := st.State.Colors[bluegreen.Color(color)].Deployment
	if d == nil {
		t.Fatalf("%s has no deployment", color)
	}
	return *d
}

// waitServed waits until the load has had n requests answered.
func waitServed(t *testing.T, load *loadgen.Runner, n int64) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "the load's first requests", func() bool { return load.Snapshot().Requests >= n })
}

// waitColorServed waits until color has answered n more requests of the
// load than when it was called.
func waitColorServed(t *testing.T, load *loadgen.Runner, color string, n int64) {
	t.Helper()
	from := load.Snapshot().ByColor[color]
	testenv.WaitFor(t, 30*time.Second, color+" answering the load", func() bool { return load.Snapshot().ByColor[color] >= from+n })
}

// TestAgentsMinHealthy: with min_healthy 2 of 3, a deploy whose build fails
// on one host succeeds on the two others; the failed host is ordered to
// stop its old app (it must not serve the old release beside the new one),
// and traffic moves to the color under load with no failed request, every
// answer from the new release.
func TestAgentsMinHealthy(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 3, "watch: {enabled: false}", "  min_healthy: 2\n  agent_timeout: 3s\n")
	f.mustCLI(t, "deploy", "blue")
	f.mustCLI(t, "deploy", "green")
	f.wantVersions(t, "green", "v1")

	f.repo.commit(t, "green", "v2", map[string]string{"VERSION": "v2\n", "FAIL_BUILD_app-6": "x"})
	out := f.mustCLI(t, "deploy", "green")
	for _, want := range []string{"app-6: failed: build step 3/3", "compile error on app-6", "2 of 3 hosts run", "app-6: stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy green with app-6's build failing lacks %q:\n%s", want, out)
		}
	}
	if v := versionAt(f.host("app-6")); v != "" {
		t.Errorf("app-6 answers version %q after its failed deploy; want nothing (its app stopped)", v)
	}
	for _, h := range []string{"app-4", "app-5"} {
		if v := versionAt(f.host(h)); v != "v2" {
			t.Errorf("%s answers %q, want v2", h, v)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + f.public + "/", Connections: 4, Rate: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	waitServed(t, load, 100)
	f.mustCLI(t, "switch", "green")
	waitColorServed(t, load, "green", 300)
	if res := load.Stop(); res.Failed != 0 {
		t.Errorf("load through the switch to green on 2 of its 3 hosts: %d of %d failed (%v)", res.Failed, res.Requests, res.Failures)
	}
	for range 6 {
		if code, body, _ := get(t, "http://"+f.public+"/"); code != 200 || !strings.Contains(body, `"version":"v2"`) {
			t.Errorf("through the router after the switch: %d %s; want v2 only", code, body)
		}
	}
}
