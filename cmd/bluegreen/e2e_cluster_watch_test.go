package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// clusterWatch is the `watch:` of the cluster watch tests: judged every
// 200ms on at least 20 requests, a window long enough for a new leader to
// take over before it ends (a line of its own: startCluster adds no
// newline after it).
const clusterWatch = "watch: {window: 30s, interval: 200ms, min_requests: 20, max_error_ratio: 0.05}\n"

// startBadApp runs `bluegreen sample-app` for color answering every
// failEvery-th request to / with 500 (its health check passes), and
// returns its address.
func startBadApp(t *testing.T, color string, failEvery int) string {
	t.Helper()
	p := start(t, "sample-app", "--color", color, "--listen", "127.0.0.1:0", "--fail-every", fmt.Sprint(failEvery))
	lines := p.readUntil(t, "listening on")
	addr := lines[len(lines)-1]
	return addr[strings.Index(addr, "http://")+len("http://"):]
}

// statusOf returns s's status, or false when the call fails (s is down or
// busy).
func statusOf(s *server) (bluegreen.Status, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := api.NewClient(s.apiAd, s.token, "e2e-tester").Status(ctx)
	return st, err == nil
}

// startClusterLoad runs a load client on s's public listener until the
// test ends, at 300 requests a second: plenty for the watch, and not so
// many that the machine is too busy to answer the serves' health checks
// in time (a rollback to a color whose check just timed out is refused).
func startClusterLoad(t *testing.T, s *server) *loadgen.Runner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4, Rate: 300})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { load.Stop() })
	return load
}

// checkOnlyAppErrors fails the test if the load client counted a failure
// other than the bad release's own 500 answers (a refused, reset or cut
// connection, a timeout), or more 500s than green answered.
func checkOnlyAppErrors(t *testing.T, r *loadgen.Result) {
	t.Helper()
	for kind, n := range r.Failures {
		if kind != "status 500" {
			t.Errorf("load: %d failures of kind %q, want none but green's own 500s (%v)", n, kind, r.FirstErrors)
		}
	}
	if r.Failed != r.Failures["status 500"] || r.Failed > r.ByColor["green"] {
		t.Errorf("load: %d failed, %d of them 500s, green answered %d: every failure must be an answer of green's", r.Failed, r.Failures["status 500"], r.ByColor["green"])
	}
	t.Logf("load: %d requests, %d failed (green's 500s), by color %v", r.Requests, r.Failed, r.ByColor)
}

// waitLive waits until s's committed state has live c, and returns that
// state's revision.
func waitLive(t *testing.T, s *server, c bluegreen.Color, what string) int64 {
	t.Helper()
	var rev int64
	testenv.WaitFor(t, 30*time.Second, what, func() bool {
		st, ok := statusOf(s)
		rev = st.State.Revision
		return ok && st.State.Live == c
	})
	return rev
}

// waitRolledBack waits until every serve of serves lists each of ids as
// serving blue at a revision of at least rev (the rollback's), that is,
// every router took the rollback; then GETs each one's public listener.
func waitRolledBack(t *testing.T, serves []*server, ids []string, rev int64) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "every instance serving blue again", func() bool {
		for _, s := range serves {
			st, ok := statusOf(s)
			if !ok || st.State.Live != bluegreen.Blue {
				return false
			}
			seen := map[string]bluegreen.Instance{}
			for _, in := range st.Instances {
				seen[in.ID] = in
			}
			for _, id := range ids {
				if in, ok := seen[id]; !ok || in.Color != bluegreen.Blue || in.Revision < rev {
					return false
				}
			}
		}
		return true
	})
	for _, s := range serves {
		if code, body, _ := get(t, "http://"+s.public+"/"); code != 200 || !strings.Contains(body, "blue") {
			t.Errorf("after the rollback %s answers %d %q, want blue", s.public, code, body)
		}
	}
}

// checkWatchRollback finds, in s's history, the failed watch of green and
// the automatic rollback to blue by the watch, and returns the rollback.
func checkWatchRollback(t *testing.T, s *server) bluegreen.Event {
	t.Helper()
	evs := history(t, s)
	findEvent(t, evs, "failed watch of green", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionWatch && ev.Outcome == bluegreen.OutcomeFailed && ev.Color == bluegreen.Green
	})
	rb := findEvent(t, evs, "automatic rollback", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionRollback && ev.Outcome == bluegreen.OutcomeOK && ev.Details["automatic"] == true
	})
	if rb.Actor != "bluegreen (watch)" || rb.Color != bluegreen.Blue || !strings.Contains(rb.Message, "5xx ratio") {
		t.Errorf("rollback event: %+v", rb)
	}
	return rb
}

// TestClusterWatchSumsRouters: three serves on one etcd, a bad release
// (every 2nd request a 500, health check passing) switched to through a
// follower, and load only on another follower's router: the leader's own
// router sees no traffic of green, yet its watch, summing every router's
// published figures, rolls green back, and every router serves blue. The
// load client saw no failure but green's own 500s.
func TestClusterWatchSumsRouters(t *testing.T) {
	t.Parallel()
	ep := strings.TrimPrefix(etcdtest.Start(t, 1)[0].ClientURL, "http://")
	blue, _ := startApp(t, "blue")
	green := startBadApp(t, "green", 2)
	serves := startCluster(t, 3, []string{ep}, "watch-sum", blue, green, clusterWatch)
	load := startClusterLoad(t, serves[2])
	waitLoadProgress(t, load)

	out := serves[1].mustCLI(t, "switch", "green") // edge-2 forwards it to edge-1
	if !strings.Contains(out, "watching green until") {
		t.Fatalf("switch through a follower does not mention the watch:\n%s", out)
	}
	switched := time.Now()
	rolledBack := waitLive(t, serves[0], bluegreen.Blue, "the watch to roll green back")
	t.Logf("rolled back %s after the switch", time.Since(switched).Round(time.Millisecond))
	waitRolledBack(t, serves, []string{"edge-1", "edge-2", "edge-3"}, rolledBack)
	res := load.Stop()
	checkOnlyAppErrors(t, res)
	if res.ByColor["green"] < 20 {
		t.Errorf("load: green answered %d requests, want at least min_requests (20)", res.ByColor["green"])
	}

	rb := checkWatchRollback(t, serves[2])
	fig, _ := rb.Details["figures"].(map[string]any)
	if n, _ := fig["requests"].(float64); n < 20 {
		t.Errorf("the rollback judged %v requests of green, want at least 20 (details %v)", fig["requests"], rb.Details)
	}
	st, _ := statusOf(serves[0])
	if n := st.Traffic[bluegreen.Green].Requests; n != 0 {
		t.Errorf("the leader's own router served %d requests of green, want 0: the test must judge only the others' figures", n)
	}
}

// TestClusterLeaderKilledDuringWatch: the leader is killed with SIGKILL
// right after a bad release was switched to, before the watch had enough
// requests to judge; load then runs on a surviving follower. A survivor
// becomes leader within the lease TTL, resumes the watch, and rolls the
// release back; the history says who took over and why green went.
func TestClusterLeaderKilledDuringWatch(t *testing.T) {
	t.Parallel()
	ep := strings.TrimPrefix(etcdtest.Start(t, 1)[0].ClientURL, "http://")
	blue, _ := startApp(t, "blue")
	green := startBadApp(t, "green", 2)
	serves := startCluster(t, 3, []string{ep}, "watch-kill", blue, green, clusterWatch)
	survivors := serves[1:]

	out := serves[1].mustCLI(t, "switch", "green") // no load: below min_requests, the watch cannot judge yet
	if !strings.Contains(out, "watching green until") {
		t.Fatalf("switch through a follower does not mention the watch:\n%s", out)
	}
	st, _ := statusOf(serves[1])
	if st.State.Live != bluegreen.Green {
		t.Fatalf("live %s after the switch, want green", st.State.Live)
	}
	serves[0].kill9(t)
	killed := time.Now()
	load := startClusterLoad(t, serves[2])

	leader := waitNewLeader(t, survivors, "edge-1")
	toLeader := time.Since(killed)
	rolledBack := waitLive(t, serves[2], bluegreen.Blue, "the new leader to roll green back")
	toRollback := time.Since(killed)
	t.Logf("leader edge-1 killed: %s leads after %s, green rolled back after %s", leader, toLeader.Round(time.Millisecond), toRollback.Round(time.Millisecond))
	if toLeader > clusterTTL+3*time.Second {
		t.Errorf("a new leader came %s after the kill, want within the TTL (%s) + 3s", toLeader, clusterTTL)
	}
	waitRolledBack(t, survivors, []string{"edge-2", "edge-3"}, rolledBack)
	checkOnlyAppErrors(t, load.Stop())

	rb := checkWatchRollback(t, serves[1])
	took := findEvent(t, history(t, serves[1]), "the new leader's takeover", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionServe && strings.Contains(ev.Message, "serve instance "+leader+" leads now")
	})
	if rb.Time.Before(took.Time) {
		t.Errorf("the automatic rollback (%s) is recorded before %s took over (%s): the killed leader cannot have judged green", rb.Time, leader, took.Time)
	}
}
