package process

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestAppSurvivesKill9OfTheServer starts the supervisor from another process
// (a fake server), kills that process's whole group with SIGKILL, and adopts
// the supervisor from here with a new Driver.
func TestAppSurvivesKill9OfTheServer(t *testing.T) {
	spec := newSpec(t, `i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.02; done`)
	specPath := filepath.Join(t.TempDir(), "fake-spec.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		t.Fatal(err)
	}

	serve := exec.Command(testBinary(t), "fakeserve", specPath)
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	serve.Stderr = t.Output()
	stdin, _ := serve.StdinPipe() // held open: the fake server lives until killed
	defer stdin.Close()
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(serve.Process.Pid, syscall.SIGKILL); serve.Wait() })
	var supPid, appPid int
	if _, err := fmt.Sscan(firstLine(t, stdout), &supPid, &appPid); err != nil || supPid <= 0 || appPid <= 0 {
		t.Fatalf("fake server printed pids %d %d (%v)", supPid, appPid, err)
	}
	sup, err := identify(supPid)
	if err != nil {
		t.Fatal(err)
	}
	killOnCleanup(t, sup, spec.StateDir)
	app, err := identify(appPid)
	if err != nil {
		t.Fatal(err)
	}

	// kill -9 of the server and everything in its process group.
	if err := killGroup(serve.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	serve.Wait()

	h, err := New(testBinary(t), testLogger(t)).Adopt(spec.StateDir)
	if err != nil {
		t.Fatalf("Adopt after the server died: %v", err)
	}
	if h.SupervisorPid() != supPid || h.Pid() != appPid || !sup.alive() || !app.alive() || !h.Running() {
		t.Fatalf("adopted supervisor %d app %d (running %v); want the same processes %d %d, alive",
			h.SupervisorPid(), h.Pid(), h.Running(), supPid, appPid)
	}
	if h.Color() != bluegreen.Blue || h.Release() != "r1" {
		t.Errorf("adopted %s %s, want blue r1", h.Color(), h.Release())
	}
	// The app's output still flows through the supervisor into its log.
	last := func() int {
		lines, _ := h.LogTail(1)
		if len(lines) != 1 {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(lines[0], "tick "))
		return n
	}
	before := last()
	testenv.WaitFor(t, 5*time.Second, "new output after the server died", func() bool { return last() > before+3 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop of the adopted supervisor: %v", err)
	}
	if sup.alive() || app.alive() {
		t.Errorf("after Stop: supervisor alive %v, app alive %v", sup.alive(), app.alive())
	}
	if _, err := New(testBinary(t), nil).Adopt(spec.StateDir); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("Adopt of a stopped supervisor: %v, want ENOTFOUND", err)
	}
}

// TestAdoptRefusesAReusedPid records a live pid (this test's own) with the
// wrong start time, as after the supervisor died and its pid was reused.
func TestAdoptRefusesAReusedPid(t *testing.T) {
	self, err := identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	d := New(testBinary(t), nil)
	for _, tc := range []struct {
		name string
		sup  procIdentity
		ok   bool
	}{
		{"same pid, same start time", self, true},
		{"same pid, other start time", procIdentity{Pid: self.Pid, StartTicks: self.StartTicks + 1}, false},
		{"exited pid", procIdentity{Pid: dead.Process.Pid, StartTicks: 1}, false},
	} {
		dir := t.TempDir()
		if err := writeState(dir, supervisorState{Supervisor: tc.sup, Color: bluegreen.Green, Release: "r9"}); err != nil {
			t.Fatal(err)
		}
		h, err := d.Adopt(dir)
		if tc.ok {
			if err != nil || h.SupervisorPid() != self.Pid {
				t.Errorf("%s: Adopt = %v, want the recorded supervisor", tc.name, err)
			}
			continue // never Stop it: it is this test process
		}
		if bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND || !strings.Contains(err.Error(), "gone") {
			t.Errorf("%s: Adopt = %v, want ENOTFOUND saying it is gone", tc.name, err)
		}
	}
	if _, err := d.Adopt(t.TempDir()); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("Adopt of an empty dir: %v, want ENOTFOUND", err)
	}
}
