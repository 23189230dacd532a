package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/demo"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/internal/textout"
	"github.com/bluegreen/bluegreen/loadgen"
)

// startAppServe starts serve for an app repository and stops the apps it
// started when the test ends.
func startAppServe(t *testing.T, r *appRepo) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := writeAppConfig(t, dir, r)
	t.Cleanup(func() { stopApps(t, filepath.Join(dir, "state")) })
	return startServe(t, cfg)
}

func status(t *testing.T, s *server) bluegreen.Status {
	t.Helper()
	return decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
}

// TestDeployCycleUnderLoad is the seed's workflow through the CLI: deploy
// green from its branch, switch, deploy blue from production, sync, roll
// back, with a load client counting every failed request once traffic flows.
func TestDeployCycleUnderLoad(t *testing.T) {
	r := newAppRepo(t)
	greenSHA := r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n"})
	s := startAppServe(t, r)

	// The very first deploy may go into the live color: nothing serves yet.
	if out := s.mustCLI(t, "deploy", "blue"); !strings.Contains(out, "runs nothing deployed by bluegreen yet") {
		t.Fatalf("bootstrap deploy of blue:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()

	out := s.mustCLI(t, "deploy", "green")
	for _, want := range []string{"fetch", "build 1/4", "building green (" + greenSHA + ") for green", "health", "deployed green"} {
		if !strings.Contains(out, want) {
			t.Fatalf("deploy output lacks %q:\n%s", want, out)
		}
	}
	s.mustCLI(t, "switch", "green")
	s.mustCLI(t, "deploy", "blue") // from production
	if _, body, _ := get(t, "http://"+s.preview+"/"); !strings.Contains(body, `"version":"v1"`) || !strings.Contains(body, `"color":"blue"`) {
		t.Fatalf("preview after deploying blue: %s", body)
	}
	s.mustCLI(t, "switch", "blue")
	s.mustCLI(t, "sync") // green gets blue's exact commit
	st := status(t, s)
	b, g := st.State.Colors[bluegreen.Blue].Release, st.State.Colors[bluegreen.Green].Release
	if b == nil || g == nil || b.SHA != g.SHA {
		t.Fatalf("after sync: blue %+v green %+v, want the same sha", b, g)
	}
	if text := s.mustCLI(t, "status"); !strings.Contains(text, textout.Short(b.SHA)) || !strings.Contains(text, "production") {
		t.Fatalf("status does not show sha and ref:\n%s", text)
	}
	s.mustCLI(t, "rollback") // back to green, now on blue's commit
	if _, body, _ := get(t, "http://"+s.public+"/"); !strings.Contains(body, `"color":"green"`) || !strings.Contains(body, `"version":"v1"`) {
		t.Fatalf("after rollback: %s", body)
	}
	res := load.Stop()
	if res.Failed != 0 || res.Requests < 100 {
		t.Fatalf("load: %d requests, %d failed (%v %v)", res.Requests, res.Failed, res.Failures, res.FirstErrors)
	}
	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--action", "deploy", "--limit", "100"))
	ok := 0
	for _, e := range evs {
		if e.Outcome == bluegreen.OutcomeOK && strings.HasPrefix(e.Message, "deployed ") {
			ok++
			if e.Actor != "e2e-tester" || e.Details["sha"] == nil {
				t.Errorf("deploy event %+v lacks actor or sha", e)
			}
		}
	}
	if ok != 4 {
		t.Fatalf("%d successful deploys in history, want 4: %+v", ok, evs)
	}
	t.Logf("deploy cycle: %d requests, 0 failed", res.Requests)
}

// TestDeployRefusals: the live color, bad refs, and a second deploy while one
// runs are refused; a deploy cut by kill -9 is marked interrupted and its lock
// released on restart.
func TestDeployRefusals(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)

	s.mustCLI(t, "deploy", "blue") // the bootstrap deploy into the live color
	if _, errOut, code := s.cli(t, "deploy", "blue"); code != 1 || !strings.Contains(errOut, "blue is live") {
		t.Fatalf("deploy to the live color: exit %d, %q", code, errOut)
	}
	locksBefore := len(decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--action", "lock")))
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, ref := range []string{"--upload-pack=touch " + marker, "$(touch " + marker + ")", "a;touch " + marker, "../../etc", "`touch " + marker + "`"} {
		_, errOut, code := s.cli(t, "deploy", "green", "--ref", ref)
		if code != 2 || !strings.Contains(errOut, "ref") {
			t.Errorf("ref %q: exit %d, %q; want exit 2 naming the ref", ref, code, errOut)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a malicious ref ran a command")
	}
	if evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--action", "lock")); len(evs) != locksBefore {
		t.Fatalf("a refused ref took the lock: %+v", evs)
	}

	// A deploy that waits in a build step holds the lock.
	r.commit(t, "green", "slow", map[string]string{"SLOW_BUILD": "1\n"})
	first := start(t, "--server", s.apiAd, "--token", s.token, "deploy", "green")
	first.readUntil(t, "waiting")
	_, errOut, code := s.cli(t, "deploy", "green")
	if code != 1 || !strings.Contains(errOut, "locked by ") || !strings.Contains(errOut, "(deploy green ref green)") {
		t.Fatalf("second deploy: exit %d, %q; want the lock holder", code, errOut)
	}
	if out := s.mustCLI(t, "lock", "status"); !strings.Contains(out, "locked by") {
		t.Fatalf("lock status: %q", out)
	}
	// Following it with a --timeout gives up with exit 3; the deployment goes on.
	id := status(t, s).State.Colors[bluegreen.Green].Deployment.ID
	if _, errOut, code := s.cli(t, "deployments", "show", id, "--follow", "--timeout", "500ms"); code != 3 ||
		!strings.Contains(errOut, "timed out after 500ms; deployment "+id+" is still running on the server") {
		t.Fatalf("deployments show --follow --timeout: exit %d\n%s", code, errOut)
	}

	// kill -9 of serve mid-deploy: the build step dies with it, and so does
	// the child it started (not only the shell); after a restart the lock is
	// free and the deployment is marked interrupted at that step, not
	// running forever.
	readPID := func(file string) int {
		t.Helper()
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(text)))
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	buildPID, childPID := readPID(r.gate+".pid"), readPID(r.gate+".child")
	if !processAlive(childPID) {
		t.Fatalf("the build step's child %d is not running before the kill", childPID)
	}
	s.kill9(t)
	testenv.WaitFor(t, 10*time.Second, "the build step to die with serve", func() bool { return !processAlive(buildPID) })
	testenv.WaitFor(t, 10*time.Second, "the build step's child to die with serve", func() bool { return !processAlive(childPID) })
	s2 := startServe(t, s.config)
	if out := s2.mustCLI(t, "lock", "status"); !strings.Contains(out, "free") {
		t.Fatalf("lock after restart: %q", out)
	}
	d := status(t, s2).State.Colors[bluegreen.Green].Deployment
	const at = "build 3/4: if [ -f SLOW_BUILD ]; then echo $$ > \"$GATE.pid\";"
	if d == nil || d.Status != bluegreen.DeploymentInterrupted || d.Step != "build 3/4" ||
		!strings.Contains(d.Error, "serve stopped during "+at) {
		t.Fatalf("deployment after restart: %+v, want interrupted during %s", d, at)
	}
	evs := decodeJSON[[]bluegreen.Event](t, s2.mustCLI(t, "history", "--json", "--action", "deploy", "--limit", "1"))
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "was interrupted at "+at) {
		t.Fatalf("history after restart: %+v, want the deployment interrupted at %s", evs, at)
	}
	_ = os.WriteFile(r.gate, nil, 0o644)
}

// TestFailedDeploys: a failing build step and an app that never becomes
// healthy end as failed deployments with the reason and output in history,
// the app stopped, the live color serving throughout.
func TestFailedDeploys(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)
	s.mustCLI(t, "deploy", "green")
	s.mustCLI(t, "switch", "green")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	s.mustCLI(t, "deploy", "blue")

	r.commit(t, "production", "broken build", map[string]string{"FAIL_BUILD": "1\n"})
	out, errOut, code := s.cli(t, "deploy", "blue")
	if code != 1 || !strings.Contains(errOut, "failed at build 2/4") || !strings.Contains(out, "compile error: FAIL_BUILD is present") {
		t.Fatalf("failing build: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--action", "deploy", "--limit", "1"))
	if len(evs) != 1 || evs[0].Outcome != bluegreen.OutcomeFailed || !strings.Contains(evs[0].Message, "build 2/4") ||
		!strings.Contains(strings.Join(toStrings(evs[0].Details["output"]), "\n"), "compile error") {
		t.Fatalf("history of the failed build: %+v", evs)
	}
	// The build failed before the old blue was stopped: blue still runs v1.
	if _, body, _ := get(t, "http://"+s.preview+"/"); !strings.Contains(body, `"version":"v1"`) {
		t.Fatalf("blue after a failed build: %s", body)
	}

	r.commit(t, "production", "never healthy", map[string]string{"FAIL_BUILD": "", "NO_HEALTH": "1\n"})
	_, errOut, code = s.cli(t, "deploy", "blue")
	if code != 1 || !strings.Contains(errOut, "failed at health") || !strings.Contains(errOut, "not healthy within 3s") {
		t.Fatalf("never-healthy app: exit %d, %q", code, errOut)
	}
	d := status(t, s).State.Colors[bluegreen.Blue].Deployment
	if d == nil || d.Status != bluegreen.DeploymentFailed || d.Step != "health" {
		t.Fatalf("blue's deployment: %+v", d)
	}
	if runs, _ := filepath.Glob(filepath.Join(s.dir, "state", "run", "blue", "current")); len(runs) != 0 {
		t.Fatal("the never-healthy app was left running")
	}
	res := load.Stop()
	if res.Failed != 0 || res.ByColor["green"] != res.Requests {
		t.Fatalf("the live color during failed deploys: %+v", res)
	}
}

// TestKill9KeepsApps: after kill -9 of serve both apps are the same
// processes, traffic flows, and nothing is left running as a deployment.
func TestKill9KeepsApps(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)
	s.mustCLI(t, "deploy", "green")
	s.mustCLI(t, "switch", "green")
	s.mustCLI(t, "deploy", "blue")
	pid := func(addr string) string {
		_, body, _ := get(t, "http://"+addr+"/")
		i := strings.Index(body, `"pid":`)
		if i < 0 {
			t.Fatalf("no pid in %q", body)
		}
		return strings.TrimRight(body[i+6:], "}\n")
	}
	livePid, previewPid := pid(s.public), pid(s.preview)
	s.kill9(t)
	s2 := startServe(t, s.config)
	if p := pid(s2.public); p != livePid {
		t.Fatalf("live app pid %s after restart, was %s", p, livePid)
	}
	if p := pid(s2.preview); p != previewPid {
		t.Fatalf("preview app pid %s after restart, was %s", p, previewPid)
	}
	for _, c := range bluegreen.Colors {
		if d := status(t, s2).State.Colors[c].Deployment; d == nil || d.Status != bluegreen.DeploymentSucceeded {
			t.Fatalf("%s deployment after restart: %+v", c, d)
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestHooks: the deploy and switch hooks run with the documented env; a
// failing pre_switch hook stops the switch with its output shown.
func TestHooks(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)
	if out := s.mustCLI(t, "deploy", "green"); !strings.Contains(out, "pre-deploy of green into green") {
		t.Fatalf("pre_deploy hook output missing:\n%s", out)
	}
	if err := os.WriteFile(r.block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := s.cli(t, "switch", "green")
	if code != 1 || !strings.Contains(errOut, "pre_switch hook failed") || !strings.Contains(errOut, "switch blocked by "+r.block) {
		t.Fatalf("switch with a failing pre_switch hook: exit %d, %q", code, errOut)
	}
	if _, body, _ := get(t, "http://"+s.public+"/deployment/color/"); body != `{"color":"blue"}` {
		t.Fatalf("a blocked switch changed the color: %s", body)
	}
	os.Remove(r.block)
	s.mustCLI(t, "switch", "green")
	b, err := os.ReadFile(r.switchLog)
	if err != nil || string(b) != "blue -> green\n" {
		t.Fatalf("post_switch hook log %q %v", b, err)
	}
}

// TestCommandDriver: a team's own deploy and stop scripts run the app;
// bluegreen still checks health, switches and records the deployments.
func TestCommandDriver(t *testing.T) {
	r := newAppRepo(t)
	r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n"})
	dir := t.TempDir()
	pids := t.TempDir()
	cfg := demo.AppConfig{Top: "watch: {enabled: false}", Repo: r.dir, App: `  driver: command
  command:
    deploy: 'setsid "$APP_BIN" sample-app --version "$(cat VERSION)" > app.log 2>&1 < /dev/null & echo $! > "$PIDS/$BLUEGREEN_COLOR.pid"'
    stop: 'f="$PIDS/$BLUEGREEN_COLOR.pid"; if [ -f "$f" ]; then p=$(cat "$f"); kill $p 2>/dev/null; while kill -0 $p 2>/dev/null; do sleep 0.05; done; rm -f "$f"; fi'
    status: 'test -f "$PIDS/$BLUEGREEN_COLOR.pid"'
  env:
    APP_BIN: ` + binPath + `
    PIDS: ` + pids + `
  start_timeout: 5s`, BluePort: freePort(t), GreenPort: freePort(t)}.YAML()
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	killPidFilesAtEnd(t, pids)
	s := startServe(t, path)
	s.mustCLI(t, "deploy", "green")
	if _, body, _ := get(t, "http://"+s.preview+"/"); !strings.Contains(body, `"version":"v2"`) || !strings.Contains(body, `"color":"green"`) {
		t.Fatalf("green deployed by the command driver answers %s", body)
	}
	s.mustCLI(t, "switch", "green")
	s.mustCLI(t, "deploy", "blue")
	s.mustCLI(t, "deploy", "blue") // again: the stop command ends the previous one first
	if _, body, _ := get(t, "http://"+s.preview+"/"); !strings.Contains(body, `"version":"v1"`) || !strings.Contains(body, `"color":"blue"`) {
		t.Fatalf("blue deployed by the command driver answers %s", body)
	}
	if d := status(t, s).State.Colors[bluegreen.Blue].Deployment; d == nil || d.Status != bluegreen.DeploymentSucceeded {
		t.Fatalf("blue's deployment %+v", d)
	}
	// After a restart the status command says both apps run.
	s.kill9(t)
	s2 := startServe(t, path)
	evs := decodeJSON[[]bluegreen.Event](t, s2.mustCLI(t, "history", "--json", "--action", "process"))
	running := 0
	for _, e := range evs {
		if strings.Contains(e.Message, "running (status command exited 0)") {
			running++
		}
	}
	if running != 2 {
		t.Fatalf("status command results in history: %+v", evs)
	}
}

// TestDetachShowLogs: deploy --detach returns an id that deployments show
// follows to the end; logs prints the app's output.
func TestDetachShowLogs(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)
	out := s.mustCLI(t, "deploy", "green", "--detach")
	if !strings.HasPrefix(out, "deployment ") || !strings.Contains(out, "started") {
		t.Fatalf("deploy --detach: %q", out)
	}
	id := strings.Fields(out)[1]
	firstID := id
	out = s.mustCLI(t, "deployments", "show", id, "--follow")
	for _, want := range []string{"fetch", "health", "green is healthy", "deployment " + id + ": green ref green", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Fatalf("deployments show --follow lacks %q:\n%s", want, out)
		}
	}
	if out := s.mustCLI(t, "logs", "green"); !strings.Contains(out, "sample-app (green, version v1) listening on") {
		t.Fatalf("logs green: %q", out)
	}

	r.commit(t, "green", "broken", map[string]string{"FAIL_BUILD": "1\n"})
	out = s.mustCLI(t, "deploy", "green", "--detach")
	id = strings.Fields(out)[1]
	out, _, code := s.cli(t, "deployments", "show", id, "-f")
	if code != 1 || !strings.Contains(out, "failed") || !strings.Contains(out, "compile error") {
		t.Fatalf("following a failing deployment: exit %d\n%s", code, out)
	}
	// The first deployment is no longer the color's current one: it is
	// found in the history by its id.
	if out := s.mustCLI(t, "deployments", "show", firstID); !strings.Contains(out, "succeeded") {
		t.Fatalf("deployments show of an older deployment: %q", out)
	}
}

// TestCrashRestartRecorded: a crashed app is restarted by its supervisor
// and the crash and the restart appear in the history.
func TestCrashRestartRecorded(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)
	s.mustCLI(t, "deploy", "blue")
	appPid := func() int {
		_, body, _ := get(t, "http://"+s.public+"/")
		return decodeJSON[struct{ Pid int }](t, body).Pid
	}
	first := appPid()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the app to be restarted", func() bool {
		code, body, _ := getMaybe("http://" + s.public + "/")
		return code == 200 && !strings.Contains(body, fmt.Sprintf(`"pid":%d`, first))
	})
	testenv.WaitFor(t, 20*time.Second, "the crash in the history", func() bool {
		evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--action", "process"))
		kinds := map[string]bool{}
		for _, e := range evs {
			k, _ := e.Details["kind"].(string)
			kinds[k] = true
		}
		return kinds["exited"] && kinds["restarting"]
	})
}

// TestAppEventsFlushedAtStop: serve copies the apps' events into the
// history once a second, and a serve that starts later (or takes over)
// begins after the end of the events file; so what is not copied yet when
// serve stops must be recorded by the serve that stops. Here serve is
// stopped as soon as the app's crash is in its events file, well within
// the second.
func TestAppEventsFlushedAtStop(t *testing.T) {
	r := newAppRepo(t)
	s := startAppServe(t, r)
	s.mustCLI(t, "deploy", "blue")
	_, body, _ := get(t, "http://"+s.public+"/")
	pid := decodeJSON[struct{ Pid int }](t, body).Pid
	current, err := os.ReadFile(filepath.Join(filepath.Dir(s.config), "state", "run", "blue", "current"))
	if err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(strings.TrimSpace(string(current)), "events.jsonl")
	crashed := func() bool {
		b, _ := os.ReadFile(events)
		for _, line := range strings.Split(string(b), "\n") {
			var e struct {
				Kind string
				Pid  int
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Kind == "exited" && e.Pid == pid {
				return true
			}
		}
		return false
	}
	if crashed() {
		t.Fatalf("%s has an exit before the app was killed", events)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the crash in "+events, crashed)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}

	s2 := startServe(t, s.config)
	var exits int
	for _, e := range decodeJSON[[]bluegreen.Event](t, s2.mustCLI(t, "history", "--json", "--action", "process")) {
		if k, _ := e.Details["kind"].(string); k == "exited" {
			exits++
		}
	}
	if exits != 1 {
		t.Errorf("the history has %d app exits, want 1 (the crash, recorded by the serve that stopped)", exits)
	}
}
