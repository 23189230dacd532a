package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
	sha3 = "3333333333333333333333333333333333333333"
)

// deployFirst has the agent carry out d1 (release v1, a build step writing
// built.txt from the order's env) and returns the started report.
func deployFirst(t *testing.T, h *harness) bluegreen.AgentReport {
	t.Helper()
	h.addRelease(sha1, "v1")
	h.svc.setOrder(h.order("d1", sha1, `echo "built with $WORD" > built.txt; echo build-done`))
	rep := h.waitReport(0, "d1 started", phase("d1", bluegreen.AgentStarted))
	testenv.WaitFor(t, 10*time.Second, "the app of d1 answering", func() bool { return h.get() != "" })
	return rep
}

// TestOrderCarriedOut: the order is fetched, unpacked, built with its env
// and started; the app answers on its port with the pid the report gives;
// each phase is reported at once (the interval is a minute); the order's
// env never reaches the log.
func TestOrderCarriedOut(t *testing.T) {
	h := newHarness(t)
	h.runAgent(time.Minute)
	rep := deployFirst(t, h)

	want := fmt.Sprintf("built with %s|v1|%d", secretWord, rep.AppPID)
	if got := h.get(); got != want {
		t.Errorf("the app answers %q, want %q (built with the order's env, from release v1, pid as reported)", got, want)
	}
	if rep.Release != sha1 || rep.Deployment != "d1" || rep.AppPID <= 0 || !rep.Supervised || rep.PID != os.Getpid() || rep.Version != "test" {
		t.Errorf("report after the start: %+v", rep)
	}
	var phases []bluegreen.AgentPhase
	h.svc.mu.Lock()
	for _, r := range h.svc.reports {
		if r.Work != nil && (len(phases) == 0 || phases[len(phases)-1] != r.Work.Phase) {
			phases = append(phases, r.Work.Phase)
		}
	}
	h.svc.mu.Unlock()
	// Each phase is reported at once; two that follow each other faster
	// than a report may show as the later one only. The build step (a
	// shell) outlasts a report on loopback.
	order := []bluegreen.AgentPhase{bluegreen.AgentFetching, bluegreen.AgentBuilding, bluegreen.AgentStarting, bluegreen.AgentStarted}
	sub := slices.DeleteFunc(slices.Clone(order), func(p bluegreen.AgentPhase) bool { return !slices.Contains(phases, p) })
	if !slices.Equal(phases, sub) || !slices.Contains(phases, bluegreen.AgentBuilding) || phases[len(phases)-1] != bluegreen.AgentStarted {
		t.Errorf("phases reported: %v, want them in the order %v, building and started among them", phases, order)
	}
	if b, err := os.ReadFile(filepath.Join(h.dir, releasesDir, "d1", "VERSION")); err != nil || string(b) != "v1\n" {
		t.Errorf("release directory of d1: VERSION %q, %v", b, err)
	}
	if strings.Contains(h.logs.String(), secretWord) {
		t.Errorf("the agent logged the order's env:\n%s", h.logs.String())
	}
	for _, name := range []string{stateFileName, lockFileName} {
		if fi, err := os.Stat(filepath.Join(h.dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", name, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(h.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("agent directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

// TestFailingBuildKeepsTheOldApp: a build step that fails is reported
// failed with its step and output; the app of the previous order keeps
// running untouched and the order is not tried again.
func TestFailingBuildKeepsTheOldApp(t *testing.T) {
	h := newHarness(t)
	h.runAgent(20 * time.Millisecond)
	first := deployFirst(t, h)
	before := h.get()

	h.addRelease(sha2, "v2")
	h.svc.setOrder(h.order("d2", sha2, "true", `echo "bad output $WORD"; exit 3`))
	rep := h.waitReport(0, "d2 failed", phase("d2", bluegreen.AgentFailed))
	w := rep.Work
	if w.Step != "build 2/2" || !strings.Contains(w.Error, "exited with status 3") || !slices.Contains(w.Output, "bad output "+secretWord) {
		t.Errorf("failed work: %+v; want build 2/2, its status and its output", w)
	}
	if rep.Release != sha1 || rep.Deployment != "d1" || rep.AppPID != first.AppPID {
		t.Errorf("report after the failure: release %s deployment %s app pid %d; want d1's app untouched (pid %d)",
			rep.Release, rep.Deployment, rep.AppPID, first.AppPID)
	}
	if got := h.get(); got != before {
		t.Errorf("the old app answers %q, want %q", got, before)
	}
	h.waitReport(0, "the app's output in a report", func(r bluegreen.AgentReport) bool {
		return slices.ContainsFunc(r.Log, func(l string) bool { return strings.HasPrefix(l, "listening on") })
	})
	n := h.svc.reportCount()
	h.waitReport(n+3, "three more reports", func(bluegreen.AgentReport) bool { return true })
	if c := h.logs.count("carrying out an order"); c != 2 {
		t.Errorf("orders carried out: %d, want 2 (a failed order is not redone)", c)
	}
}

// TestCancelledOrder: an order whose build runs is given up when the order
// names another deployment, and when it goes away; the build step's
// process is killed and the running app stays.
func TestCancelledOrder(t *testing.T) {
	h := newHarness(t)
	h.runAgent(20 * time.Millisecond)
	first := deployFirst(t, h)

	h.addRelease(sha2, "v2")
	h.addRelease(sha3, "v3")
	slow := `echo $$ > build.pid; echo waiting; exec sleep 1000`
	h.svc.setOrder(h.order("d2", sha2, slow))
	h.waitReport(0, "d2 building", func(r bluegreen.AgentReport) bool {
		return phase("d2", bluegreen.AgentBuilding)(r) && slices.Contains(r.Work.Output, "waiting")
	})
	pid2 := buildPid(t, h, "d2")

	h.svc.setOrder(h.order("d3", sha3, slow))
	rep := h.waitReport(0, "d2 cancelled", phase("d2", bluegreen.AgentFailed))
	if rep.Work.Error != "cancelled: the order now names deployment d3" {
		t.Errorf("d2's error: %q", rep.Work.Error)
	}
	testenv.WaitFor(t, 10*time.Second, "d2's build step killed", func() bool { return gone(pid2) })
	h.waitReport(0, "d3 building", func(r bluegreen.AgentReport) bool {
		return phase("d3", bluegreen.AgentBuilding)(r) && slices.Contains(r.Work.Output, "waiting")
	})
	pid3 := buildPid(t, h, "d3")

	h.svc.setOrder(nil)
	rep = h.waitReport(0, "d3 cancelled", phase("d3", bluegreen.AgentFailed))
	if rep.Work.Error != "cancelled: the order went away" {
		t.Errorf("d3's error: %q", rep.Work.Error)
	}
	testenv.WaitFor(t, 10*time.Second, "d3's build step killed", func() bool { return gone(pid3) })
	if rep.AppPID != first.AppPID || rep.Deployment != "d1" {
		t.Errorf("after the cancellations the report names %s, app pid %d; want d1's app (pid %d)", rep.Deployment, rep.AppPID, first.AppPID)
	}
	if h.get() == "" {
		t.Error("the old app no longer answers")
	}
}

// buildPid reads the pid the slow build step of deployment id wrote.
func buildPid(t *testing.T, h *harness, id string) int {
	t.Helper()
	var pid int
	b, err := os.ReadFile(filepath.Join(h.dir, releasesDir, id, "build.pid"))
	if _, serr := fmt.Sscan(string(b), &pid); err != nil || serr != nil {
		t.Fatalf("the build step's pid: %q, %v", b, err)
	}
	return pid
}

// gone reports whether pid no longer names a live process (a zombie is
// gone).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// TestRestartReadoptsTheApp: a second agent on the same directory is
// refused; after the agent stops, the app keeps running, and the next
// agent re-adopts it (same pid, same release) without carrying the order
// out again.
func TestRestartReadoptsTheApp(t *testing.T) {
	h := newHarness(t)
	stop := h.runAgent(20 * time.Millisecond)
	first := deployFirst(t, h)

	err := Run(t.Context(), Options{Client: h.client, Host: testHost, Dir: h.dir, Binary: testBinary(t)})
	if bluegreen.ErrorCode(err) != bluegreen.ECONFLICT || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("a second agent on the same directory: %v; want ECONFLICT naming the running agent", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("the agent's Run: %v", err)
	}
	if h.get() == "" {
		t.Fatal("the app stopped with the agent")
	}

	n := h.svc.reportCount()
	h.runAgent(20 * time.Millisecond)
	rep := h.waitReport(n, "a report of the new agent", func(bluegreen.AgentReport) bool { return true })
	if rep.AppPID != first.AppPID || rep.Release != sha1 || rep.Deployment != "d1" || !rep.Supervised ||
		rep.Work == nil || rep.Work.Phase != bluegreen.AgentStarted {
		t.Errorf("the new agent reports %+v; want d1's app re-adopted (pid %d) and its work started", rep, first.AppPID)
	}
	h.waitReport(n+3, "more reports of the new agent", func(bluegreen.AgentReport) bool { return true })
	h.svc.mu.Lock()
	fetches := h.svc.fetches
	h.svc.mu.Unlock()
	if c := h.logs.count("carrying out an order"); c != 1 || fetches != 1 {
		t.Errorf("after the restart: %d orders carried out, %d fetches; want 1 each (d1 is not redone)", c, fetches)
	}
	if !strings.Contains(h.logs.String(), "re-adopted the app") {
		t.Errorf("the new agent did not log the re-adoption:\n%s", h.logs.String())
	}
}

// TestServeUnreachable: with serve gone the app keeps running and the
// agent logs the loss once; once serve is back at the same address the
// agent reports again and logs how long contact was lost.
func TestServeUnreachable(t *testing.T) {
	h := newHarness(t)
	h.runAgent(20 * time.Millisecond)
	first := deployFirst(t, h)
	before := h.get()

	h.srv.Close()
	testenv.WaitFor(t, 10*time.Second, "the agent noticing", func() bool { return h.logs.count("lost contact with serve") > 0 })
	n := h.svc.reportCount()
	if got := h.get(); got != before {
		t.Errorf("with serve gone the app answers %q, want %q", got, before)
	}
	if err := syscall.Kill(first.AppPID, 0); err != nil {
		t.Errorf("the app (pid %d) with serve gone: %v", first.AppPID, err)
	}

	h.serve()
	rep := h.waitReport(n, "a report once serve is back", func(bluegreen.AgentReport) bool { return true })
	if rep.AppPID != first.AppPID {
		t.Errorf("report after the outage: app pid %d, want %d", rep.AppPID, first.AppPID)
	}
	testenv.WaitFor(t, 10*time.Second, "the agent logging contact back", func() bool {
		return h.logs.count("contact with serve is back") == 1
	})
	if c := h.logs.count("lost contact with serve"); c != 1 {
		t.Errorf("the loss was logged %d times, want once", c)
	}
}

// TestRefusedAgentKeepsRunning: serve refusing the agent (its token acts
// for another host: 403) never ends it; it logs what to fix.
func TestRefusedAgentKeepsRunning(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Client: h.client, Host: "app-9", Dir: h.dir, Interval: 10 * time.Millisecond,
			Binary: testBinary(t), Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
	}()
	testenv.WaitFor(t, 10*time.Second, "the refusal logged with its fix", func() bool {
		return strings.Contains(h.logs.String(), "use an agent token created with --host app-9")
	})
	n := h.calls.Load()
	testenv.WaitFor(t, 10*time.Second, "the agent calling again", func() bool { return h.calls.Load() >= n+2 })
	if c := h.logs.count("lost contact with serve"); c != 1 || h.svc.reportCount() != 0 {
		t.Errorf("refusals logged %d times (want once), %d reports kept (want none)", c, h.svc.reportCount())
	}
	select {
	case err := <-done:
		t.Fatalf("the agent ended on a refusal: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its context ended: %v", err)
	}
}

// TestRestartWithAStaleState: the next agent goes by the app it finds
// running when the state file lags behind: stopped after starting the new
// app but before it recorded so (the state still says starting), or a
// state that does not name the app at all. Either way the app found is
// reported and its order is not carried out again (which would replace
// the running release's files).
func TestRestartWithAStaleState(t *testing.T) {
	for _, tc := range []struct {
		name    string
		work    *bluegreen.AgentWork
		wantSHA string
	}{
		{"stopped while starting", &bluegreen.AgentWork{Deployment: "d1", SHA: sha1, Phase: bluegreen.AgentStarting}, sha1},
		{"app not in the state", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			stop := h.runAgent(20 * time.Millisecond)
			first := deployFirst(t, h)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			st, err := loadState(h.dir)
			if err != nil {
				t.Fatal(err)
			}
			st.Deployment, st.SHA, st.Done, st.Work = "d0", sha2, "d0", tc.work
			if err := st.save(h.dir); err != nil {
				t.Fatal(err)
			}

			n := h.svc.reportCount()
			h.runAgent(20 * time.Millisecond)
			h.waitReport(n+3, "reports of the new agent", func(bluegreen.AgentReport) bool { return true })
			rep, _ := h.svc.lastReport(n, func(bluegreen.AgentReport) bool { return true })
			if rep.Deployment != "d1" || rep.Release != tc.wantSHA || rep.AppPID != first.AppPID || rep.Work == nil ||
				rep.Work.Phase != bluegreen.AgentStarted || rep.Work.Deployment != "d1" {
				t.Errorf("the new agent reports %+v; want d1's app (pid %d) and its work started", rep, first.AppPID)
			}
			if c := h.logs.count("carrying out an order"); c != 1 {
				t.Errorf("orders carried out: %d, want 1 (d1 is not redone)", c)
			}
		})
	}
}

// TestStopOrder: a Stop order (a host that failed a deployment that
// succeeded elsewhere) stops the app and leaves nothing running; the
// reports say stopped, with no release.
func TestStopOrder(t *testing.T) {
	h := newHarness(t)
	h.runAgent(time.Minute)
	deployFirst(t, h)
	h.svc.setOrder(&bluegreen.HostOrder{Deployment: "d2.stop", Color: bluegreen.Green, Stop: true, StopGraceMS: 2000})
	rep := h.waitReport(0, "d2.stop stopped", phase("d2.stop", bluegreen.AgentStopped))
	if rep.Release != "" || rep.AppPID != 0 || rep.Supervised {
		t.Errorf("report after the stop: %+v; want no release, no app", rep)
	}
	if got := h.get(); got != "" {
		t.Errorf("the app still answers %q after the stop", got)
	}
}
