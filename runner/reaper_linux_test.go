package runner

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCallerDeathKillsTheGroup starts a process that runs a command with
// Run (as serve runs a build step), or with exec and Guard (as serve runs
// git); the command starts a child of its own.
// kill -9 of the caller must take the shell and its child with it within
// seconds, rather than leave them running under init.
func TestCallerDeathKillsTheGroup(t *testing.T) {
	for _, env := range []string{callerEnv, guardEnv} {
		t.Run(env, func(t *testing.T) { testCallerDeath(t, env) })
	}
}

// testCallerDeath is TestCallerDeathKillsTheGroup with the command started
// by the caller as env says.
func testCallerDeath(t *testing.T, env string) {
	dir := t.TempDir()
	shellFile, childFile := filepath.Join(dir, "shell"), filepath.Join(dir, "child")
	caller := exec.Command(os.Args[0], "-test.run=^$")
	caller.Env = append(os.Environ(), env+"=sleep 300 & echo $! > "+childFile+"; echo $$ > "+shellFile+"; wait")
	var stderr bytes.Buffer
	caller.Stderr = &stderr
	if err := caller.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = caller.Wait(); close(exited) }()
	t.Cleanup(func() { _ = caller.Process.Kill(); <-exited })

	shell, child := waitPID(t, shellFile, exited), waitPID(t, childFile, exited)
	t.Cleanup(func() { _ = syscall.Kill(shell, syscall.SIGKILL); _ = syscall.Kill(child, syscall.SIGKILL) })
	if !alive(shell) || !alive(child) {
		t.Fatalf("the shell (%d) or its child (%d) is not running before the kill", shell, child)
	}
	if err := caller.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	deadline := time.Now().Add(5 * time.Second)
	for alive(shell) || alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("5s after kill -9 of the caller: shell %d alive %v, its child %d alive %v; want both killed with it",
				shell, alive(shell), child, alive(child))
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a condition wait
	}
}

// TestReaperRefusesToRunOutsideItsGroup: the reaper started by hand (not as
// a group leader) would kill its starter's group; it refuses instead.
func TestReaperRefusesToRunOutsideItsGroup(t *testing.T) {
	cmd := exec.Command("/proc/self/exe", "/bin/sh", "-c", "echo ran")
	cmd.Args[0] = reaperArg0
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 || !strings.Contains(string(out), "not a process group leader") || strings.Contains(string(out), "ran") {
		t.Fatalf("reaper outside its own group: %v, %q", err, out)
	}
}

// TestSignalledCommandStatus: a command ended by a signal reports 128+N, as
// a shell would.
func TestSignalledCommandStatus(t *testing.T) {
	res, err := Run(t.Context(), Cmd{Command: "kill -TERM $$", Dir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}}, nil)
	if err == nil || res.ExitCode != 128+int(syscall.SIGTERM) {
		t.Fatalf("%+v %v, want exit status %d", res, err, 128+int(syscall.SIGTERM))
	}
}

// waitPID waits for a pid written to file, while the caller lives.
func waitPID(t *testing.T, file string, exited <-chan struct{}) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		select {
		case <-exited:
			t.Fatalf("the caller ended before %s was written", file)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s within 10s", file)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a condition wait
	}
}

// alive reports whether pid runs (a zombie nobody reaped yet is dead).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// TestGuardRefusesWhatItCannotReap: a command that leads no group of its
// own (killing "its group" would kill the caller's), one with ExtraFiles
// (descriptor 3 is the reaper's) and one already started are refused.
func TestGuardRefusesWhatItCannotReap(t *testing.T) {
	noGroup := exec.Command("/bin/true")
	extra := exec.Command("/bin/true")
	extra.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	extra.ExtraFiles = []*os.File{os.Stdin}
	joins := exec.Command("/bin/true")
	joins.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: os.Getpid()}
	started := exec.Command("/bin/true")
	started.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := started.Run(); err != nil {
		t.Fatal(err)
	}
	for name, cmd := range map[string]*exec.Cmd{"no group": noGroup, "extra files": extra, "joins a group": joins, "started": started} {
		if _, err := Guard(cmd); err == nil || !strings.HasPrefix(err.Error(), "runner: Guard of a command") {
			t.Errorf("%s: Guard said %v, want a refusal", name, err)
		}
	}
}
