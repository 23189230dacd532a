package process

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

func TestStartRunsAppDetachedInItsOwnGroupWithOnlyItsEnv(t *testing.T) {
	t.Setenv("BLUEGREEN_TEST_LEAK", "from the server") // the supervisor inherits it; the app must not
	spec := newSpec(t, `printf '%s' "$FOO" > foo.txt; printf '%s' "${BLUEGREEN_TEST_LEAK-unset}" > leak.txt; echo started; exec sleep 1000`)
	spec.Env = append(spec.Env, "FOO=bar baz")
	h := start(t, spec)

	pid := h.Pid()
	if pid <= 0 {
		t.Fatalf("Pid() = %d after Start", pid)
	}
	if !h.Running() {
		t.Fatal("Running() = false after Start")
	}
	if pgrp, _ := statFields(t, pid); pgrp != pid {
		t.Errorf("app %d is in process group %d, want its own", pid, pgrp)
	}
	if _, sid := statFields(t, h.SupervisorPid()); sid != h.SupervisorPid() {
		t.Errorf("supervisor %d is in session %d, want its own", h.SupervisorPid(), sid)
	}
	if cwd, err := os.Readlink("/proc/" + itoa(pid) + "/cwd"); err != nil || cwd != spec.Dir {
		t.Errorf("app cwd = %q, %v; want %q", cwd, err, spec.Dir)
	}
	testenv.WaitFor(t, 5*time.Second, "the app's first output line", func() bool {
		lines, _ := h.LogTail(1)
		return slices.Equal(lines, []string{"started"})
	})
	if b, _ := os.ReadFile(filepath.Join(spec.Dir, "foo.txt")); string(b) != "bar baz" {
		t.Errorf("app saw FOO=%q, want %q", b, "bar baz")
	}
	if b, _ := os.ReadFile(filepath.Join(spec.Dir, "leak.txt")); string(b) != "unset" {
		t.Errorf("app saw the server's BLUEGREEN_TEST_LEAK=%q, want it unset", b)
	}
	if st, err := os.Stat(filepath.Join(spec.StateDir, specFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("spec.json: %v, mode %v; want 0600", err, st.Mode().Perm())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := New(testBinary(t), nil).Start(ctx, spec); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Errorf("second Start in the same state dir: %v, want ECONFLICT", err)
	}

	app, _ := identify(pid)
	began := time.Now()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took >= spec.StopGrace {
		t.Errorf("Stop of an app that obeys SIGTERM took %s, the whole grace period", took)
	}
	if app.alive() || h.Running() || h.Pid() != 0 {
		t.Errorf("after Stop: app alive %v, Running %v, Pid %d", app.alive(), h.Running(), h.Pid())
	}
	evs := allEvents(t, h)
	want := []string{EventSupervising, EventStarted, EventStopping, EventStopped}
	if !slices.Equal(kinds(evs), want) {
		t.Fatalf("events %v, want %v", kinds(evs), want)
	}
	if last := evs[3]; last.Killed || last.Pid != pid || last.Color != bluegreen.Blue || last.Release != "r1" {
		t.Errorf("stopped event %+v: want pid %d of blue r1, not killed", last, pid)
	}
}

func TestStopKillsAnAppThatIgnoresSIGTERMAfterTheGrace(t *testing.T) {
	spec := newSpec(t, `trap '' TERM; echo ready; exec sleep 1000`)
	spec.StopGrace = 300 * time.Millisecond
	h := start(t, spec)
	testenv.WaitFor(t, 5*time.Second, "the app to ignore SIGTERM", func() bool {
		lines, _ := h.LogTail(1)
		return slices.Equal(lines, []string{"ready"})
	})
	app, _ := identify(h.Pid())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(began)
	if took < spec.StopGrace || took > spec.StopGrace+stopMargin {
		t.Errorf("Stop took %s, want between the grace %s and grace+margin", took, spec.StopGrace)
	}
	if app.alive() {
		t.Error("the app survived Stop")
	}
	evs := allEvents(t, h)
	last := evs[len(evs)-1]
	if last.Kind != EventStopped || !last.Killed || last.Signal != syscall.SIGKILL.String() {
		t.Errorf("last event %+v, want stopped by SIGKILL", last)
	}
}

func TestCrashedAppIsRestartedWithBackoff(t *testing.T) {
	// Runs 1 and 2 crash at once, run 3 stays up longer than RestartReset
	// and then crashes, runs 4 and later crash at once.
	spec := newSpec(t, `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"; if [ $n -eq 3 ]; then sleep 1; fi; exit 3`)
	spec.RestartBackoff = 50 * time.Millisecond
	spec.RestartBackoffMax = 200 * time.Millisecond
	spec.RestartReset = 500 * time.Millisecond
	h := start(t, spec)

	testenv.WaitFor(t, 20*time.Second, "six restarts", func() bool {
		return countKind(allEvents(t, h), EventRestarting) >= 6
	})
	evs, offset, err := h.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	wantDelays := []time.Duration{50 * ms, 100 * ms, 50 * ms, 100 * ms, 200 * ms, 200 * ms}
	var delays []time.Duration
	pids := map[int]bool{}
	var restartAt time.Time
	for _, e := range evs {
		switch e.Kind {
		case EventExited:
			if e.ExitCode != 3 || e.Signal != "" {
				t.Errorf("exited event %+v, want status 3", e)
			}
		case EventRestarting:
			delays = append(delays, e.Delay)
			restartAt = e.Time
		case EventStarted:
			if pids[e.Pid] {
				t.Errorf("pid %d started twice", e.Pid)
			}
			pids[e.Pid] = true
			if d := len(delays); d > 0 && e.Time.Sub(restartAt) < delays[d-1] {
				t.Errorf("restart %d came %s after its announcement, before its delay %s", d, e.Time.Sub(restartAt), delays[d-1])
			}
		}
	}
	if len(delays) > 6 {
		delays = delays[:6]
	}
	if !slices.Equal(delays, wantDelays) {
		t.Errorf("restart delays %v, want %v (doubling, capped, reset after a long run)", delays, wantDelays)
	}
	lines, err := h.LogTail(100)
	if err != nil || len(lines) < 6 || lines[0] != "run 1" || lines[5] != "run 6" {
		t.Errorf("app log %q, %v: want run 1, run 2, ...", lines, err)
	}

	// Events after the offset are only the new ones.
	testenv.WaitFor(t, 10*time.Second, "more events", func() bool {
		more, _, err := h.Events(offset)
		return err == nil && len(more) > 0
	})
	more, _, _ := h.Events(offset)
	total := allEvents(t, h)
	if len(total) < len(evs)+len(more) || !slices.Equal(total[:len(evs)+len(more)], append(evs, more...)) {
		t.Errorf("Events(0) = %v, want Events(0) then Events(offset) = %v then %v", kinds(total), kinds(evs), kinds(more))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop of a crash-looping app: %v", err)
	}
	if last := allEvents(t, h); last[len(last)-1].Kind != EventStopped {
		t.Errorf("last event %q, want stopped", last[len(last)-1].Kind)
	}
}

func TestAppOutputIsCapturedAndRotated(t *testing.T) {
	spec := newSpec(t, `i=1; while [ $i -le 200 ]; do echo "line $i of the app output"; i=$((i+1)); done; echo "to stderr" >&2; exec sleep 1000`)
	spec.LogMaxBytes = 1000
	spec.LogKeep = 2
	h := start(t, spec)
	testenv.WaitFor(t, 10*time.Second, "the app's last line", func() bool {
		lines, _ := h.LogTail(1)
		return slices.Equal(lines, []string{"to stderr"})
	})

	log := filepath.Join(spec.StateDir, appLogFile)
	var all string
	for _, name := range []string{log + ".2", log + ".1", log} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b) > 1000 || b[len(b)-1] != '\n' {
			t.Errorf("%s: %d bytes, ending %q; want 1..1000 bytes of whole lines", filepath.Base(name), len(b), b[len(b)-1:])
		}
		all += string(b)
	}
	if _, err := os.Stat(log + ".3"); !os.IsNotExist(err) {
		t.Errorf("app.log.3 exists (err %v), want only 2 rotations kept", err)
	}
	if strings.Contains(all, "line 1 of") {
		t.Error("the oldest output is still kept; want it rotated away")
	}

	lines, err := h.LogTail(60)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 60 || lines[58] != "line 200 of the app output" || lines[0] != "line 142 of the app output" {
		t.Errorf("LogTail(60) = %d lines from %q to %q; want line 142 .. line 200, to stderr", len(lines), lines[0], lines[len(lines)-1])
	}
}

func TestStartReportsASupervisorThatCannotRun(t *testing.T) {
	spec := newSpec(t, "true")
	spec.Dir = filepath.Join(spec.Dir, "missing")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := New(testBinary(t), nil).Start(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("Start with a missing release dir: %v, want the supervisor's reason", err)
	}

	for name, mutate := range map[string]func(*Spec){
		"color":   func(s *Spec) { s.Color = "red" },
		"release": func(s *Spec) { s.Release = "" },
		"command": func(s *Spec) { s.Command = "" },
	} {
		bad := newSpec(t, "true")
		mutate(&bad)
		if _, err := New(testBinary(t), nil).Start(ctx, bad); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("Start with a bad %s: %v, want EINVALID", name, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestInheritedDescriptorsAreNotKept hands the supervisor the write end of a
// pipe without close-on-exec, as a CI runner might hand it to the server:
// neither the supervisor nor the app may keep it, or the reader would never
// see the end of it.
func TestInheritedDescriptorsAreNotKept(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETFD, 0); errno != 0 {
		t.Fatal(errno)
	}
	h := start(t, newSpec(t, `echo up; exec sleep 1000`))
	w.Close()
	if !h.Running() {
		t.Fatal("app not running")
	}
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read from the pipe: %d, %v; want EOF (someone kept its write end)", n, err)
	}
}

// TestSupervisorOutlivesServesSignals: SIGHUP and SIGUSR2 (serve's reload
// and hand-over, which a service manager may send to the whole unit) do not
// end the supervisor, which then still stops its app as usual; the app does
// not inherit them ignored.
func TestSupervisorOutlivesServesSignals(t *testing.T) {
	h := start(t, newSpec(t, `echo started; exec sleep 1000`))
	testenv.WaitFor(t, 5*time.Second, "the app's first output line", func() bool {
		lines, _ := h.LogTail(1)
		return slices.Equal(lines, []string{"started"})
	})
	status, err := os.ReadFile("/proc/" + itoa(h.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if mask, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR2} {
				if bits&(1<<(sig-1)) != 0 {
					t.Errorf("the app ignores %v", sig)
				}
			}
		}
	}
	sup := h.SupervisorPid()
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR2} {
		if err := syscall.Kill(sup, sig); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop after the signals: %v", err)
	}
	if got, want := kinds(allEvents(t, h)), []string{EventSupervising, EventStarted, EventStopping, EventStopped}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v (the supervisor did the stop)", got, want)
	}
}
