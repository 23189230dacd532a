package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/daemon"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// startGateServe starts serve for r with the given top-level settings and
// app additions, stopping the apps it started when the test ends.
func startGateServe(t *testing.T, r *appRepo, top, appExtra string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := writeAppConfigWith(t, dir, r, top, appExtra)
	t.Cleanup(func() { stopApps(t, filepath.Join(dir, "state")) })
	return startServe(t, cfg)
}

// history returns the history as JSON events, newest first.
func history(t *testing.T, s *server) []bluegreen.Event {
	t.Helper()
	return decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "-o", "json", "--limit", "200"))
}

// findEvent returns the newest event that matches, failing the test if none.
func findEvent(t *testing.T, evs []bluegreen.Event, what string, match func(bluegreen.Event) bool) bluegreen.Event {
	t.Helper()
	for _, ev := range evs {
		if match(ev) {
			return ev
		}
	}
	t.Fatalf("no %s in the history:\n%s", what, describeEvents(evs))
	return bluegreen.Event{}
}

func describeEvents(evs []bluegreen.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s %s %s: %s\n", ev.Action, ev.Color, ev.Outcome, ev.Actor, ev.Message)
	}
	return b.String()
}

// TestWatchRollsBackBadRelease: a release whose health check passes but
// whose home page fails one request in five is switched to under load; the
// watch sees the 5xx ratio and switches back by itself within its window,
// and the history and /metrics say so with the figures.
func TestWatchRollsBackBadRelease(t *testing.T) {
	r := newAppRepo(t)
	r.commit(t, "green", "green v2: every 5th request fails", map[string]string{"VERSION": "v2\n", "FAIL_EVERY": "5\n"})
	const window = 30 * time.Second
	s := startGateServe(t, r, "watch: {window: 30s, interval: 250ms, min_requests: 40, max_error_ratio: 0.05}", "")

	s.mustCLI(t, "deploy", "blue")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()

	s.mustCLI(t, "deploy", "green") // its /healthz passes: verification lets it through
	out := s.mustCLI(t, "switch", "green")
	if !strings.Contains(out, "watching green until") {
		t.Fatalf("switch output does not mention the watch:\n%s", out)
	}
	switched := time.Now()
	deadline := switched.Add(window)
	for {
		col := strings.TrimSpace(s.mustCLI(t, "color"))
		if col == "blue" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s %s after the switch: the watch did not roll back within its window", col, window)
		}
		waitLoadProgress(t, load)
	}
	t.Logf("rolled back %s after the switch", time.Since(switched).Round(time.Millisecond))
	res := load.Stop()

	evs := history(t, s)
	rb := findEvent(t, evs, "automatic rollback", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionRollback && ev.Outcome == bluegreen.OutcomeOK && ev.Details["automatic"] == true
	})
	if rb.Actor != "bluegreen (watch)" || rb.Color != bluegreen.Blue || !strings.Contains(rb.Message, "5xx ratio") {
		t.Errorf("rollback event: %+v", rb)
	}
	fig, _ := rb.Details["figures"].(map[string]any)
	ratio, _ := fig["error_ratio"].(float64)
	if ratio < 0.1 || ratio > 0.3 {
		t.Errorf("rollback event records error ratio %v, want about 0.2 (details %v)", ratio, rb.Details)
	}
	thr, _ := rb.Details["thresholds"].(map[string]any)
	if thr["max_error_ratio"] != 0.05 {
		t.Errorf("rollback event thresholds %v", thr)
	}
	findEvent(t, evs, "failed watch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionWatch && ev.Outcome == bluegreen.OutcomeFailed && ev.Color == bluegreen.Green
	})
	// The notify hook ran for the automatic rollback.
	testenv.WaitFor(t, 10*time.Second, "the notify hook's record of the automatic rollback", func() bool {
		b, _ := os.ReadFile(r.switchLog + ".notify")
		return strings.Contains(string(b), "automatic_rollback blue: automatically rolled back traffic from green to blue")
	})

	// Only green's own 500s failed: no connection was dropped by the switches.
	for kind, n := range res.Failures {
		if kind != "status 500" {
			t.Errorf("load: %d failures of kind %q (%v)", n, kind, res.FirstErrors)
		}
	}
	if res.ByColor["green"] == 0 || res.Failed == 0 || res.Failed > res.ByColor["green"]/3 {
		t.Errorf("load: %d requests, %d failed, by color %v", res.Requests, res.Failed, res.ByColor)
	}

	// /metrics: per-color counters that moved with the traffic, and the
	// automatic rollback; the token is required.
	m := metrics(t, s)
	if m[`bluegreen_requests_total{color="green",class="5xx"}`] < 1 || m[`bluegreen_requests_total{color="blue",class="2xx"}`] < 10 ||
		m[`bluegreen_rollbacks_total{kind="automatic"}`] != 1 || m[`bluegreen_switches_total`] != 1 ||
		m[`bluegreen_live{color="blue"}`] != 1 || m[`bluegreen_request_duration_seconds_count{color="green"}`] < 1 {
		t.Errorf("metrics: %v", m)
	}
	// serve's GC target, unless the environment (inherited by serve) sets one.
	if _, set := os.LookupEnv("GOGC"); !set && m["go_gc_gogc_percent"] != daemon.ServeGCPercent {
		t.Errorf("go_gc_gogc_percent = %v, want %d", m["go_gc_gogc_percent"], daemon.ServeGCPercent)
	}
	// Twice this machine's Ps (the event loops, one per core, and Ps
	// for the rest), unless the environment sets GOMAXPROCS.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && m["go_sched_gomaxprocs_threads"] != float64(2*runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads = %v, want %d", m["go_sched_gomaxprocs_threads"], 2*runtime.GOMAXPROCS(0))
	}
	before := m[`bluegreen_requests_total{color="blue",class="2xx"}`]
	for range 5 {
		get(t, "http://"+s.public+"/")
	}
	if after := metrics(t, s)[`bluegreen_requests_total{color="blue",class="2xx"}`]; after < before+5 {
		t.Errorf("blue's 2xx counter went from %v to %v after 5 requests", before, after)
	}
	resp, err := http.Get("http://" + s.apiAd + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %s, want 401", resp.Status)
	}
}

// waitLoadProgress returns once the load client has finished more
// requests, so a polling loop advances with the traffic, not with a clock.
func waitLoadProgress(t *testing.T, load *loadgen.Runner) {
	t.Helper()
	start := load.Snapshot().Requests
	deadline := time.Now().Add(10 * time.Second)
	for load.Snapshot().Requests < start+20 {
		if time.Now().After(deadline) {
			t.Fatal("the load client made no progress for 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling the counter, not synchronising on time
	}
}

var metricLine = regexp.MustCompile(`^([a-z_]+(?:\{[^}]*\})?) (\S+)$`)

// metrics reads /metrics with the token into sample → value.
func metrics(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.apiAd+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		m := metricLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("/metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("/metrics: bad value in %q", line)
		}
		out[m[1]] = v
	}
	return out
}

// smokeCheck is a command check shipped in the app's repository: it records
// what it was given and fails when the release holds FAIL_CHECK.
const smokeCheck = `echo "url=$BLUEGREEN_URL color=$BLUEGREEN_COLOR dir=$(pwd)" >> "$CHECK_LOG"
if [ -f FAIL_CHECK ]; then
  echo "smoke: checking $BLUEGREEN_URL/orders"
  echo "smoke: FAIL_CHECK is present: the order page is broken"
  exit 3
fi
echo "smoke: ok"
`

// TestSwitchGates: a release that has not passed verification, or not been
// approved, is refused; verify runs a command check against the preview
// listener and shows its failure output; --force goes and history says it
// was forced and by whom.
func TestSwitchGates(t *testing.T) {
	r := newAppRepo(t)
	r.commit(t, "production", "smoke check", map[string]string{"smoke.sh": smokeCheck})
	r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n", "smoke.sh": smokeCheck})
	checkLog := filepath.Join(t.TempDir(), "checks.log")
	s := startGateServe(t, r, "watch: {enabled: false}", fmt.Sprintf(`  verify_on_deploy: false
  require_approval: true
  checks:
    - name: smoke
      command: CHECK_LOG=%s sh smoke.sh
      timeout: 10s`, checkLog))

	s.mustCLI(t, "deploy", "blue")
	s.mustCLI(t, "deploy", "green")
	_, errOut, code := s.cli(t, "switch", "green")
	if code != 1 || !strings.Contains(errOut, "has not been verified (run `bluegreen verify green`)") ||
		!strings.Contains(errOut, "has not been approved") {
		t.Fatalf("switch to an unverified, unapproved green: exit %d\n%s", code, errOut)
	}

	out := s.mustCLI(t, "verify", "green")
	for _, want := range []string{"health", "smoke", "passed verification"} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify green output lacks %q:\n%s", want, out)
		}
	}
	logged, _ := os.ReadFile(checkLog)
	if want := "url=http://" + s.preview + " color=green dir="; !strings.Contains(string(logged), want) ||
		!strings.Contains(string(logged), filepath.Join("state", "releases", "green")) {
		t.Fatalf("the command check saw %q, want %q and green's release directory", logged, want)
	}
	if _, errOut, code := s.cli(t, "switch", "green"); code != 1 || !strings.Contains(errOut, "has not been approved") ||
		strings.Contains(errOut, "verified") {
		t.Fatalf("switch to a verified but unapproved green: exit %d\n%s", code, errOut)
	}
	s.mustCLI(t, "approve", "green", "--reason", "QA looked at the preview")
	if st := status(t, s); !st.State.Colors[bluegreen.Green].Verified() || !st.State.Colors[bluegreen.Green].Approved() {
		t.Fatalf("green's gates in status: %+v", st.State.Colors[bluegreen.Green])
	}
	s.mustCLI(t, "switch", "green")

	// A release whose check fails: verify shows the check's output and
	// exits 1; switch is refused, --force goes and is recorded.
	r.commit(t, "production", "broken orders", map[string]string{"FAIL_CHECK": "1\n"})
	s.mustCLI(t, "deploy", "blue")
	out, _, code = s.cli(t, "verify", "blue")
	for _, want := range []string{"FAILED", "smoke: FAIL_CHECK is present: the order page is broken",
		"smoke: checking http://" + s.preview + "/orders", "exited with status 3"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("verify blue: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	s.mustCLI(t, "approve", "blue")
	if _, errOut, code := s.cli(t, "switch", "blue"); code != 1 || !strings.Contains(errOut, "failed verification") {
		t.Fatalf("switch to a blue that failed verification: exit %d\n%s", code, errOut)
	}
	out = s.mustCLI(t, "switch", "blue", "--force", "--reason", "hotfix, checked by hand")
	if !strings.Contains(out, "(forced)") || !strings.Contains(out, "forced past: ") {
		t.Fatalf("forced switch output:\n%s", out)
	}
	forced := findEvent(t, history(t, s), "forced switch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionSwitch && ev.Outcome == bluegreen.OutcomeOK && ev.Color == bluegreen.Blue
	})
	if forced.Actor != "e2e-tester" || forced.Details["forced"] != true || !strings.Contains(forced.Message, "forced by e2e-tester") ||
		forced.Details["reason"] != "hotfix, checked by hand" {
		t.Fatalf("forced switch event: %+v", forced)
	}
	findEvent(t, history(t, s), "refused switch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionSwitch && ev.Outcome == bluegreen.OutcomeRefused && strings.Contains(ev.Message, "has not been verified")
	})
}

// checkSchema is the live release's own check: the shared database must
// hold the schema this release reads.
const checkSchema = `read -r schema < %q; echo "database schema: $schema"; [ "$schema" = "%s" ]`

// TestMigrationGate: the new release's build step migrates the shared
// database so that the live release's own check fails; the deployment
// says so and the switch is refused, naming the failed live check.
func TestMigrationGate(t *testing.T) {
	r := newAppRepo(t)
	db := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(db, []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit(t, "production", "schema check", map[string]string{"schema.sh": fmt.Sprintf(checkSchema, db, "v1")})
	r.commit(t, "green", "v2: migrates to schema v2", map[string]string{"VERSION": "v2\n",
		"schema.sh": fmt.Sprintf(checkSchema, db, "v2"),
		"build.sh":  fmt.Sprintf("echo v2 > %q; echo 'migrated the database to schema v2'\n", db)})
	s := startGateServe(t, r, "watch: {enabled: false}", `  checks:
    - name: schema
      command: sh schema.sh`)

	s.mustCLI(t, "deploy", "blue")
	out, errOut, code := s.cli(t, "deploy", "green")
	if code != 1 || !strings.Contains(errOut, "verification failed") ||
		!strings.Contains(out, "blue: schema passed before the build and fails now") {
		t.Fatalf("deploy of the migrating release: exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = s.cli(t, "switch", "green")
	for _, want := range []string{"broke the live color blue", "its check schema", "passed before the build and fails after it"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("switch after the migration: exit %d, want %q in:\n%s", code, want, errOut)
		}
	}
	st := status(t, s)
	v := st.State.Colors[bluegreen.Green].Verification
	if st.State.Live != bluegreen.Blue || v == nil || v.Passed || len(v.LiveChecks) != 1 || v.LiveChecks[0].Name != "schema" {
		t.Fatalf("after the refused switch: live %s, green's verification %+v", st.State.Live, v)
	}
}

// TestAutoPromotion: with promotion: auto a deploy verifies and switches in
// one command, and stops before switching when a check fails.
func TestAutoPromotion(t *testing.T) {
	r := newAppRepo(t)
	r.commit(t, "production", "smoke check", map[string]string{"smoke.sh": smokeCheck})
	r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n", "smoke.sh": smokeCheck})
	checkLog := filepath.Join(t.TempDir(), "checks.log")
	s := startGateServe(t, r, "watch: {enabled: false}", fmt.Sprintf(`  promotion: auto
  checks:
    - name: smoke
      command: CHECK_LOG=%s sh smoke.sh
    - name: home
      http: {path: /, json: {field: app, equals: sample}}`, checkLog))

	s.mustCLI(t, "deploy", "blue") // the first deploy goes into the live color: nothing to promote
	out := s.mustCLI(t, "deploy", "green")
	for _, want := range []string{"ok   home", "ok   smoke", "promotion: auto: switching traffic to green", "promotion: auto: green is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("deploy green with promotion auto lacks %q:\n%s", want, out)
		}
	}
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "green" {
		t.Fatalf("after an auto-promoted deploy the live color is %s, want green", col)
	}
	if d := status(t, s).State.Colors[bluegreen.Green].Deployment; d == nil || !d.Promoted {
		t.Fatalf("the stored deployment does not say it was promoted: %+v", d)
	}

	// Detached: following the deployment lasts until the automatic switch
	// has run, not only until the deployment succeeded.
	out = s.mustCLI(t, "deploy", "blue", "--detach")
	id := strings.Fields(strings.TrimPrefix(out, "deployment "))[0]
	out = s.mustCLI(t, "deployments", "show", id, "--follow")
	if !strings.Contains(out, "promotion: auto: switched") {
		t.Fatalf("following a detached deploy with promotion auto:\n%s", out)
	}
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "blue" {
		t.Fatalf("when the follower returned the live color was %s, want blue", col)
	}
	// A refused automatic switch fails the follower, even though the
	// deployment itself succeeded.
	if err := os.WriteFile(r.block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out = s.mustCLI(t, "deploy", "green", "--detach")
	id = strings.Fields(strings.TrimPrefix(out, "deployment "))[0]
	out, errOut, code := s.cli(t, "deployments", "show", id, "--follow")
	if code != 1 || !strings.Contains(out, "promotion: auto: refused") || !strings.Contains(out, "switch blocked") {
		t.Fatalf("following a deploy whose automatic switch was refused: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := os.Remove(r.block); err != nil {
		t.Fatal(err)
	}

	r.commit(t, "green", "broken", map[string]string{"FAIL_CHECK": "1\n"})
	out, errOut, code = s.cli(t, "deploy", "green")
	if code != 1 || !strings.Contains(errOut, "verification failed") || strings.Contains(out, "switching traffic") {
		t.Fatalf("deploy of a release that fails its check: exit %d\n%s\n%s", code, out, errOut)
	}
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "blue" {
		t.Fatalf("a failed verification switched anyway: live is %s", col)
	}
	evs := history(t, s)
	sw := findEvent(t, evs, "the automatic switch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionSwitch && ev.Outcome == bluegreen.OutcomeOK
	})
	if sw.Color != bluegreen.Blue || !strings.Contains(fmt.Sprint(sw.Details["reason"]), "promotion: auto") {
		t.Fatalf("the newest switch is %+v, want the automatic one to blue", sw)
	}
}

// TestWatchStopsPreviousAfter: with stop_previous_after, the previous
// color's app is stopped that long after a watch passed, and the history
// says so.
func TestWatchStopsPreviousAfter(t *testing.T) {
	r := newAppRepo(t)
	r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n"})
	s := startGateServe(t, r, "watch: {window: 1s, interval: 250ms, min_requests: 1000000, stop_previous_after: 1s}", "")
	s.mustCLI(t, "deploy", "blue")
	s.mustCLI(t, "deploy", "green")
	s.mustCLI(t, "switch", "green")
	testenv.WaitFor(t, 20*time.Second, "blue's app to be stopped after green's watch passed", func() bool {
		out, _, _ := s.cli(t, "history", "--action", "process", "--color", "blue", "-o", "json")
		return strings.Contains(out, "stop_previous_after")
	})
	evs := history(t, s)
	findEvent(t, evs, "the passed watch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionWatch && ev.Outcome == bluegreen.OutcomeOK && ev.Color == bluegreen.Green
	})
	testenv.WaitFor(t, 10*time.Second, "blue to be unhealthy once its app is stopped", func() bool {
		return status(t, s).State.Colors[bluegreen.Blue].Health.Status == bluegreen.HealthUnhealthy
	})
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "green" {
		t.Fatalf("live color %s after stopping the previous one, want green", col)
	}
}

// TestRollbackToANewRelease: a rollback may skip the release gates only to
// the release that served before the switch; once something new was
// deployed into the previous color, rolling back to it needs what a switch
// needs.
func TestRollbackToANewRelease(t *testing.T) {
	r := newAppRepo(t)
	r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n"})
	s := startGateServe(t, r, "watch: {enabled: false}", "  verify_on_deploy: false\n  require_approval: true")
	s.mustCLI(t, "deploy", "blue")
	s.mustCLI(t, "deploy", "green")
	s.mustCLI(t, "verify", "green")
	s.mustCLI(t, "approve", "green")
	s.mustCLI(t, "switch", "green")
	// Back to blue's release that served before: no gates but health.
	s.mustCLI(t, "rollback")
	s.mustCLI(t, "switch", "green", "--force")

	r.commit(t, "production", "v3, never verified", map[string]string{"VERSION": "v3\n"})
	s.mustCLI(t, "deploy", "blue")
	_, errOut, code := s.cli(t, "rollback")
	if code != 1 || !strings.Contains(errOut, "has not been verified") || !strings.Contains(errOut, "has not been approved") {
		t.Fatalf("rollback to a release deployed since the switch: exit %d\n%s", code, errOut)
	}
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "green" {
		t.Fatalf("a refused rollback moved traffic: live is %s", col)
	}
	if out := s.mustCLI(t, "rollback", "--force"); !strings.Contains(out, "(forced)") {
		t.Fatalf("forced rollback:\n%s", out)
	}
}
