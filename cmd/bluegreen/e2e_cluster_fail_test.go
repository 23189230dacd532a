package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/demo"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// hostPorts returns the members' client addresses without their scheme,
// as a state URL lists them.
func hostPorts(ms []*etcdtest.Member) []string {
	var eps []string
	for _, ep := range etcdtest.Endpoints(ms) {
		eps = append(eps, strings.TrimPrefix(ep, "http://"))
	}
	return eps
}

// loadEach starts a load client on each serve's public listener; they
// stop when ctx ends or with Stop.
func loadEach(t *testing.T, ctx context.Context, serves []*server) []*loadgen.Runner {
	t.Helper()
	var loads []*loadgen.Runner
	for _, s := range serves {
		l, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 2, Rate: 300})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Stop() })
		loads = append(loads, l)
	}
	return loads
}

// served waits until each load client has had n more requests answered
// than it had when served was called, failing the test if any failed.
func served(t *testing.T, loads []*loadgen.Runner, n int64, what string) {
	t.Helper()
	for i, l := range loads {
		before := l.Snapshot().Requests
		testenv.WaitFor(t, 20*time.Second, what, func() bool { return l.Snapshot().Requests >= before+n })
		if r := l.Snapshot(); r.Failed != 0 {
			t.Fatalf("%s: edge-%d's load had %d of %d requests failed (%v %v)", what, i+1, r.Failed, r.Requests, r.Failures, r.FirstErrors)
		}
	}
}

// TestClusterQuorumLost stops two of three etcd members under three serves
// each under load: traffic flows on without a failed request, a switch
// through a follower and through the leader fails within its timeout
// naming the store, status says since when it is unreachable; with the
// members back the next switch reaches every instance.
func TestClusterQuorumLost(t *testing.T) {
	t.Parallel()
	ms := etcdtest.Start(t, 3)
	eps := hostPorts(ms)
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	serves := startCluster(t, 3, eps, "quorum", blue, green, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	loads := loadEach(t, ctx, serves)
	served(t, loads, 100, "traffic before the loss")

	ms[1].Kill()
	ms[2].Kill()
	// A switch on the leader before its lease ends: its commit cannot
	// reach a quorum.
	type answer struct {
		err  error
		took time.Duration
	}
	onLeader := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		start := time.Now()
		_, err := api.NewClient(serves[0].apiAd, serves[0].token, "e2e-tester").Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green})
		onLeader <- answer{err, time.Since(start)}
	}()
	served(t, loads, 600, "traffic after losing the quorum")
	a := <-onLeader
	t.Logf("a switch on the leader as the quorum was lost: after %s: %v", a.took.Round(time.Millisecond), a.err)
	if bluegreen.ErrorCode(a.err) != bluegreen.EUNAVAILABLE || !strings.Contains(a.err.Error(), "state store unreachable") || a.took >= 15*time.Second {
		t.Errorf("a switch on the leader as the quorum was lost: %v after %s; want EUNAVAILABLE naming the store within 15s", a.err, a.took)
	}

	for _, s := range []struct {
		role string
		s    *server
	}{{"a follower", serves[1]}, {"the leader", serves[0]}} {
		start := time.Now()
		out, errOut, code := s.s.cli(t, "switch", "green", "--timeout", "15s")
		took := time.Since(start)
		t.Logf("switch through %s without quorum: exit %d after %s: %s", s.role, code, took.Round(time.Millisecond), strings.TrimSpace(errOut))
		if code == 0 || !strings.Contains(errOut, "state store unreachable") || !strings.Contains(errOut, eps[0]) {
			t.Errorf("switch through %s without quorum: exit %d after %s\nstdout %q\nstderr %q\nwant a failure naming the store", s.role, code, took, out, errOut)
		}
		if took > 15*time.Second+3*time.Second {
			t.Errorf("switch through %s without quorum took %s, beyond its 15s timeout", s.role, took)
		}
		// The switch call itself (the CLI first reads the history, which
		// fails the same way).
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		start = time.Now()
		_, err := api.NewClient(s.s.apiAd, s.s.token, "e2e-tester").Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green})
		took = time.Since(start)
		cancel()
		t.Logf("the switch call through %s without quorum: after %s: %v", s.role, took.Round(time.Millisecond), err)
		if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "state store unreachable") || !strings.Contains(err.Error(), eps[0]) || took >= 15*time.Second {
			t.Errorf("the switch call through %s without quorum: %v after %s; want EUNAVAILABLE naming the store within 15s", s.role, err, took)
		}
	}
	for _, s := range serves {
		var st bluegreen.Status
		testenv.WaitFor(t, 15*time.Second, "status saying the store is unreachable", func() bool {
			out, _, code := s.cli(t, "status", "-o", "json")
			if code != 0 {
				return false
			}
			st = decodeJSON[bluegreen.Status](t, out)
			return st.Store != nil && st.Store.UnreachableSince != nil
		})
		if st.Store.Kind != "etcd" || !strings.Contains(st.Store.Where, eps[0]) || st.State.Live != bluegreen.Blue {
			t.Errorf("status without quorum: store %+v, live %s", *st.Store, st.State.Live)
		}
	}
	served(t, loads, 100, "traffic during the failed switches")

	ms[1].Restart(t)
	ms[2].Restart(t)
	restarted := time.Now()
	for i, s := range serves {
		testenv.WaitFor(t, 20*time.Second, "status with the store reachable again", func() bool {
			out, _, code := s.cli(t, "status", "-o", "json")
			st := bluegreen.Status{}
			if code == 0 {
				st = decodeJSON[bluegreen.Status](t, out)
			}
			return code == 0 && st.Store != nil && st.Store.UnreachableSince == nil
		})
		st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
		if st.State.Live != bluegreen.Blue {
			t.Errorf("edge-%d: the state says live %s once the quorum is back; want blue (every switch was refused)", i+1, st.State.Live)
		}
	}
	var res bluegreen.SwitchResult
	var last string
	defer func() {
		if t.Failed() && last != "" {
			t.Logf("the last refused switch said: %s", last)
		}
	}()
	testenv.WaitFor(t, 60*time.Second, "a switch once the quorum is back", func() bool {
		out, errOut, code := serves[1].cli(t, "switch", "green", "--timeout", "15s", "-o", "json")
		if code != 0 {
			last = errOut
			return false
		}
		res = decodeJSON[bluegreen.SwitchResult](t, out)
		return true
	})
	if res.Routers == nil || len(res.Routers.Acked) != 3 || len(res.Routers.Missing) != 0 {
		t.Fatalf("the switch after the quorum came back: routers %+v, want edge-1..3 acked", res.Routers)
	}
	// One election after the quorum came back, not an instance taking over
	// and standing down again and again on a lease etcd still held.
	takeovers := 0
	for _, e := range decodeJSON[[]bluegreen.Event](t, serves[0].mustCLI(t, "history", "--action", "serve", "--limit", "1000", "-o", "json")) {
		if strings.Contains(e.Message, "leads now") && e.Time.After(restarted) {
			takeovers++
		}
	}
	if takeovers < 1 || takeovers > 3 {
		t.Errorf("%d takeovers recorded after the quorum came back; want one (at most one per instance)", takeovers)
	}
	t.Logf("%d takeover(s) recorded after the quorum came back", takeovers)
	for i, l := range loads {
		before := l.Snapshot().ByColor["green"]
		testenv.WaitFor(t, 10*time.Second, "green served at every instance", func() bool { return l.Snapshot().ByColor["green"] > before+50 })
		if code, body, _ := get(t, "http://"+serves[i].public+"/"); code != 200 || !strings.Contains(body, "green") {
			t.Errorf("edge-%d answers %d %q after the switch, want green", i+1, code, body)
		}
	}
	for i, l := range loads {
		if r := l.Stop(); r.Failed != 0 {
			t.Errorf("edge-%d's load: %d of %d requests failed (%v %v)", i+1, r.Failed, r.Requests, r.Failures, r.FirstErrors)
		}
	}
}

// startAppCluster runs n serves, edge-1 to edge-n, on the etcd at ep
// (under prefix), each with its own data directory and the config
// demo.AppConfig makes of top (top-level settings besides the state and
// the cluster) and app (the app section's settings after app.repo), with
// the colors on bluePort and greenPort. It returns once all of them are
// listed as members, with edge-1 leading.
func startAppCluster(t *testing.T, n int, ep, prefix string, cfg demo.AppConfig) []*server {
	t.Helper()
	top := cfg.Top
	var serves []*server
	for i := 1; i <= n; i++ {
		dir := t.TempDir()
		cfg.Top = fmt.Sprintf("state: etcd://%s/%s\ndata_dir: local\ncluster: {id: edge-%d, ttl: %s}\n%s", ep, prefix, i, clusterTTL, top)
		path := filepath.Join(dir, "bluegreen.yaml")
		if err := os.WriteFile(path, []byte(cfg.YAML()), 0o644); err != nil {
			t.Fatal(err)
		}
		serves = append(serves, startServe(t, path))
		if i == 1 {
			waitLeader(t, serves, "edge-1")
		}
	}
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d instances listed", n), func() bool {
		return len(instances(t, serves[0])) == n
	})
	return serves
}

// TestClusterLeaseLock: kill -9 of the leader while its deployment holds
// the operation lock. Another instance refuses a deploy while the dead
// leader's lease lives (the leader cannot be reached: EUNAVAILABLE, naming
// the lock and its holder), and deploys once a new leader took over; the
// history says the lock expired with its holder and the first deployment
// was interrupted.
func TestClusterLeaseLock(t *testing.T) {
	t.Parallel()
	ep := strings.TrimPrefix(etcdtest.Start(t, 1)[0].ClientURL, "http://")
	r := newAppRepo(t)
	pids, mark := t.TempDir(), filepath.Join(t.TempDir(), "block")
	if err := os.WriteFile(mark, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// While $MARK exists the deploy command waits for it to go, then fails
	// (an orphan of the killed leader must not start an app); without it
	// the command starts the app.
	app := `  driver: command
  command:
    deploy: 'if [ -f "$MARK" ]; then while [ -f "$MARK" ]; do sleep 0.05; done; exit 1; fi; setsid "$APP_BIN" sample-app --version "$(cat VERSION)" > app.log 2>&1 < /dev/null & echo $! > "$PIDS/$BLUEGREEN_COLOR.pid"'
    stop: 'f="$PIDS/$BLUEGREEN_COLOR.pid"; if [ -f "$f" ]; then p=$(cat "$f"); kill $p 2>/dev/null; while kill -0 $p 2>/dev/null; do sleep 0.05; done; rm -f "$f"; fi'
    status: 'test -f "$PIDS/$BLUEGREEN_COLOR.pid"'
  env:
    APP_BIN: ` + binPath + `
    PIDS: ` + pids + `
    MARK: ` + mark + `
  start_timeout: 5s`
	killPidFilesAtEnd(t, pids)
	t.Cleanup(func() { _ = os.Remove(mark) }) // runs first: the blocked deploy script ends
	serves := startAppCluster(t, 3, ep, "lock", demo.AppConfig{Top: "watch: {enabled: false}\nrouter:\n  drain_timeout: 3s",
		Repo: r.dir, App: app, BluePort: freePort(t), GreenPort: freePort(t)})

	first := decodeJSON[bluegreen.Deployment](t, serves[1].mustCLI(t, "deploy", "green", "--detach", "-o", "json"))
	var lock *bluegreen.Lock
	testenv.WaitFor(t, 10*time.Second, "the lock held by the deployment", func() bool {
		out, _, code := serves[2].cli(t, "lock", "status", "-o", "json")
		if code != 0 {
			return false
		}
		lock = decodeJSON[struct{ Lock *bluegreen.Lock }](t, out).Lock
		return lock != nil
	})
	if !strings.HasPrefix(lock.Holder, "edge-1 ") {
		t.Fatalf("the lock is held by %q, want the leader edge-1", lock.Holder)
	}

	serves[0].kill9(t)
	killed := time.Now()
	client := api.NewClient(serves[2].apiAd, serves[2].token, "e2e-tester")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := client.DeployDetached(ctx, bluegreen.DeployRequest{Color: bluegreen.Green})
	cancel()
	refusedAfter := time.Since(killed)
	t.Logf("a deploy %s after the kill: %v", refusedAfter, err)
	if refusedAfter >= clusterTTL {
		t.Fatalf("the refusal came %s after the kill, beyond the lease's %s: the test is too slow to see the lease live", refusedAfter, clusterTTL)
	}
	if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "the operation lock is held by e2e-tester") ||
		!strings.Contains(err.Error(), "on "+lock.Holder) {
		t.Fatalf("a deploy while the dead leader's lease lives: %v; want it refused naming the lock and its holder", err)
	}

	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}
	// The new leader releases the lock as it takes over.
	testenv.WaitFor(t, 3*clusterTTL+10*time.Second, "the lock released by a new leader", func() bool {
		out, _, code := serves[2].cli(t, "lock", "status", "-o", "json")
		return code == 0 && decodeJSON[struct{ Lock *bluegreen.Lock }](t, out).Lock == nil
	})
	t.Logf("the lock was released %s after the kill", time.Since(killed))
	var leader string
	for _, in := range instances(t, serves[2]) {
		if in.Role == bluegreen.RoleLeader {
			leader = in.ID
		}
	}
	if leader != "edge-2" && leader != "edge-3" {
		t.Fatalf("the lock was released, and %q leads; want edge-2 or edge-3", leader)
	}
	out := serves[2].mustCLI(t, "deploy", "green")
	if !strings.Contains(out, "deployed") {
		t.Fatalf("the deploy on the new leader %s printed %q", leader, out)
	}
	history := serves[2].mustCLI(t, "history", "-o", "json")
	var expired, interrupted bool
	for _, e := range decodeJSON[[]bluegreen.Event](t, history) {
		expired = expired || strings.Contains(e.Message, "expired with its holder edge-1")
		interrupted = interrupted || strings.Contains(e.Message, "deployment "+first.ID) && strings.Contains(e.Message, "interrupted")
	}
	if !expired || !interrupted {
		t.Fatalf("history after the leader died holding the lock (lock expired: %t, deployment %s interrupted: %t):\n%s", expired, first.ID, interrupted, history)
	}
}
