package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// TestClusterSwitchesUnderLoad runs three serves on one etcd, each under
// its own load client, and switches 100 times through each instance in
// turn (followers pass the switch to the leader): no request fails at any
// instance, every switch is confirmed by all three routers, and each
// router serves the new color. The CLI shows the instances, and a token of
// one instance works on the others.
func TestClusterSwitchesUnderLoad(t *testing.T) {
	t.Parallel()
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	serves := startCluster(t, 3, eps, "e2e-switches", blue, green, "watch: {enabled: false}\n")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	loads := make([]*loadgen.Runner, len(serves))
	for i, s := range serves {
		l, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 2})
		if err != nil {
			t.Fatal(err)
		}
		loads[i] = l
	}
	const switches = 100
	var spreads []float64
	to := bluegreen.Green
	for i := range switches {
		s := serves[i%len(serves)]
		res, err := api.NewClient(s.apiAd, s.token, "e2e-tester").Switch(ctx, bluegreen.SwitchRequest{To: to})
		if err != nil || !res.Changed {
			t.Fatalf("switch %d to %s through edge-%d: %+v, %v", i+1, to, i%len(serves)+1, res, err)
		}
		if r := res.Routers; r == nil || len(r.Acked) != 3 || len(r.Missing) != 0 {
			t.Fatalf("switch %d: routers %+v; want all three confirmed", i+1, r)
		}
		spreads = append(spreads, res.Routers.SpreadMS)
		to = to.Other()
	}
	for i, l := range loads {
		r := l.Stop()
		if r.Failed != 0 || r.ByColor["blue"] == 0 || r.ByColor["green"] == 0 {
			t.Errorf("edge-%d: %d of %d requests failed over %d switches (%v %v), by color %v", i+1, r.Failed, r.Requests, switches, r.Failures, r.FirstErrors, r.ByColor)
		}
	}
	slices.Sort(spreads)
	t.Logf("spread between the first and the last router serving the new color over %d switches: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		switches, spreads[len(spreads)/2], spreads[len(spreads)*99/100], spreads[len(spreads)-1])

	// After an even number of switches blue is live again everywhere.
	for i, s := range serves {
		if code, body, _ := get(t, "http://"+s.public+"/"); code != 200 || !strings.Contains(body, `"blue"`) {
			t.Errorf("edge-%d's public listener answered %d %q; want blue", i+1, code, body)
		}
	}
	// One instance's admin token is accepted by the others; the text status
	// lists the instances with the one answering marked.
	out, errOut, code := runCLI(t, "--server", serves[2].apiAd, "--token", serves[0].token, "status")
	if code != 0 {
		t.Fatalf("status on edge-3 with edge-1's token: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"3 serve instances on etcd://", "edge-1 ", "leader", "edge-3 (this one)", "follower"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out = serves[1].mustCLI(t, "switch", "green")
	if !strings.Contains(out, "3 router(s) serve green (edge-1, edge-2, edge-3) within") {
		t.Errorf("switch output lacks the routers:\n%s", out)
	}
}

// TestClusterRestartAfterKill: a serve killed with kill -9 and started again
// at once (as a service manager would) waits for its previous process's
// lease to expire instead of failing on its own ID, then serves and is
// listed again.
func TestClusterRestartAfterKill(t *testing.T) {
	t.Parallel()
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	serves := startCluster(t, 2, eps, "e2e-restart", blue, green, "watch: {enabled: false}\n")
	serves[1].kill9(t)
	start := time.Now()
	again := startServe(t, serves[1].config)
	t.Logf("edge-2 serves again %s after it was killed (lease %s)", time.Since(start).Round(time.Millisecond), clusterTTL)
	waitLeader(t, []*server{again}, "edge-1")
	ids := []string{}
	for _, in := range instances(t, again) {
		ids = append(ids, in.ID)
	}
	if strings.Join(ids, ",") != "edge-1,edge-2" {
		t.Errorf("instances after the restart: %v; want edge-1 and edge-2", ids)
	}
	if out := again.mustCLI(t, "switch", "green"); !strings.Contains(out, "2 router(s) serve green") {
		t.Errorf("switch through the restarted serve:\n%s", out)
	}
}

// TestClusterColorsAreTheLeaders: the colors in the shared state are the
// leader's configuration; a follower's differing upstreams and its reload
// leave them alone (its own router uses its own), and once the follower
// leads it records its colors.
func TestClusterColorsAreTheLeaders(t *testing.T) {
	t.Parallel()
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	other, _ := startApp(t, "green")
	serves := startCluster(t, 2, eps, "e2e-colors", blue, green, "watch: {enabled: false}\n")
	leader, follower := serves[0], serves[1]
	stateGreen := func(s *server) string {
		st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
		return strings.Join(st.State.Colors[bluegreen.Green].Upstreams, ",")
	}
	// The follower's green moves to another app, and it reloads.
	b, err := os.ReadFile(follower.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(follower.config, []byte(strings.Replace(string(b), "upstreams: ["+green+"]", "upstreams: ["+other+"]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := newestEventID(t, follower)
	if err := follower.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the follower's reload recorded", func() bool {
		for _, e := range decodeJSON[[]bluegreen.Event](t, follower.mustCLI(t, "history", "--action", "config", "-o", "json")) {
			if e.ID > before && strings.Contains(e.Message, "does not lead") {
				return true
			}
		}
		return false
	})
	if got := stateGreen(leader); got != green {
		t.Errorf("the state's green after a follower's reload: %s; want the leader's %s", got, green)
	}
	leader.kill9(t)
	waitNewLeader(t, []*server{follower}, "edge-1")
	testenv.WaitFor(t, 10*time.Second, "the new leader's colors in the state", func() bool { return stateGreen(follower) == other })
}

// newestEventID returns the ID of the newest event s's history holds.
func newestEventID(t *testing.T, s *server) int64 {
	t.Helper()
	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--limit", "1", "-o", "json"))
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}
