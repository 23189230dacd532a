package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// A command runs under a reaper: this very binary, started again (through
// /proc/self/exe, so the same build even after an upgrade replaced the file)
// with argv[0] reaperArg0. The reaper leads a new process group (or
// session), starts the command in it and waits for it. It holds the read
// end of a pipe (the lifeline) whose only write end stays in the process
// that started it (Run, Guard);
// when that process dies, however it dies (kill -9 included), the kernel
// closes the write end, the reaper reads EOF and kills its whole group: the
// shell and everything it started that did not leave the group (setsid).
//
// The kernel's parent-death signal (PR_SET_PDEATHSIG) is not used: it
// reaches only the direct child, not the shell's children, and it fires when
// the forking OS thread exits rather than the process, which Go does not
// promise not to do. A pipe's end closes when the process is gone, and only
// then.
const reaperArg0 = "bluegreen-reaper"

// reaperLifelineFD is the reaper's descriptor of the lifeline's read end.
const reaperLifelineFD = 3

func init() {
	// The reaper is a mode of every binary that links this package (serve,
	// and the tests of the packages that run commands), entered before
	// main and left with syscall.Exit: os.Exit would first run what a
	// finished program runs (a race-enabled build waits a second there).
	if len(os.Args) > 1 && os.Args[0] == reaperArg0 {
		syscall.Exit(reap(os.Args[1:]))
	}
}

// reap runs argv in the reaper's process group and returns the exit status
// to end with: the command's own, or 128+N when signal N ended it. It kills
// the group when the lifeline breaks or the reaper is told to stop.
func reap(argv []string) int {
	if syscall.Getpgrp() != os.Getpid() {
		// Killing "its group" would hit whoever started it by hand.
		fmt.Fprintf(os.Stderr, "%s: not a process group leader; it is started by the runner package only\n", reaperArg0)
		return 127
	}
	syscall.CloseOnExec(reaperLifelineFD) // the command must not hold it
	lifeline := os.NewFile(reaperLifelineFD, "lifeline")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", reaperArg0, err)
		return 127
	}
	broken := make(chan struct{})
	go func() {
		var b [1]byte
		for {
			if _, err := lifeline.Read(b[:]); err != nil {
				close(broken) // EOF: the caller is gone
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		// The command ended: what it left in the group is left alone (a
		// daemon may be leaving the group at this very moment).
		return exitStatus(err)
	case <-broken:
	case <-stop:
	}
	_ = syscall.Kill(-syscall.Getpgrp(), syscall.SIGKILL) // the reaper included
	return 137
}

// exitStatus is the status a reaper ends with after its command's Wait
// returned err.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return 127
		}
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// guard rewrites cmd, not started yet, to run under a reaper; see Guard.
func guard(cmd *exec.Cmd) (*lifeline, error) {
	if err := guardable(cmd); err != nil {
		return nil, err
	}
	r, w, err := os.Pipe() // both ends close on exec: no other child inherits them
	if err != nil {
		return nil, fmt.Errorf("runner: making the reaper's lifeline: %w", err)
	}
	cmd.Args = append([]string{reaperArg0, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/proc/self/exe"
	cmd.ExtraFiles = []*os.File{r} // descriptor 3, reaperLifelineFD
	return &lifeline{r: r, w: w}, nil
}

// lifeline is the pipe whose write end keeps a reaper's group alive.
type lifeline struct{ r, w *os.File }

// started drops the caller's copy of the read end, which only the reaper
// needs.
func (l *lifeline) started() { l.r.Close() }

// close cuts the lifeline: a reaper still running kills its group.
func (l *lifeline) close() {
	l.r.Close()
	l.w.Close()
}
