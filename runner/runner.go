// Package runner runs configured shell commands (build steps, hooks) in a
// directory with a given environment, streaming their output line by line.
// A command cannot outlive the process that runs it: on Linux it runs under
// a reaper, this binary started again, which kills the command's process
// group when its caller dies.
//
// Commands come from the configuration file, which the operator controls, so
// they run with /bin/sh -c. Values that come from users at run time (refs,
// names) must reach them only through Env, never through the command text.
package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd is one command to run.
type Cmd struct {
	// Command is a shell command line, run with /bin/sh -c.
	Command string
	// Dir is the working directory.
	Dir string
	// Env is the whole environment of the command (nothing is inherited).
	Env []string
	// Timeout bounds the run; 0 means only ctx bounds it.
	Timeout time.Duration
}

// Result says how a command ended.
type Result struct {
	// ExitCode is the exit status, 128+N when signal N ended the shell (as
	// a shell reports it); -1 when the run was stopped (ctx, Timeout) or
	// the command never started.
	ExitCode int
	// Duration is how long it ran.
	Duration time.Duration
	// Tail holds the last lines of its combined output (up to TailLines).
	Tail []string
}

// TailLines is how many output lines a Result keeps.
const TailLines = 20

// Run runs c, calling onLine (if not nil) for each line of its combined
// stdout and stderr as it comes, from one goroutine at a time. It returns an
// error when the command could not start, exited non-zero, or was stopped
// by ctx or the timeout; the Result is filled in every case. The command
// runs in a process group of its own; when the run is stopped, and on Linux
// when the calling process dies (kill -9 included, see reaper_linux.go),
// the whole group is killed. What the command leaves running after it
// exited is left alone.
func Run(ctx context.Context, c Cmd, onLine func(string)) (Result, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.Command("/bin/sh", "-c", c.Command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	life, err := guard(cmd)
	if err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("starting %q: %w", c.Command, err)
	}
	defer life.close()
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	// A command may leave a child running that still holds its output
	// (a daemon that did not redirect): Wait gives up on the pipe after this.
	cmd.WaitDelay = 2 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw

	res := Result{ExitCode: -1}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return res, fmt.Errorf("starting %q: %w", c.Command, err)
	}
	life.started()

	var (
		mu   sync.Mutex
		tail []string
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			tail = append(tail, line)
			if len(tail) > TailLines {
				tail = tail[len(tail)-TailLines:]
			}
			mu.Unlock()
			if onLine != nil {
				onLine(line)
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line over 1 MiB: keep the pipe drained
	}()

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = ctx.Err()
	}
	// On success the group is left alone: a deploy script may have started
	// a daemon that is still leaving it (setsid) at this very moment.
	pw.Close()
	wg.Wait()

	res.Duration = time.Since(start)
	mu.Lock()
	res.Tail = append([]string(nil), tail...)
	mu.Unlock()
	var exitErr *exec.ExitError
	switch {
	case err == nil || errors.Is(err, exec.ErrWaitDelay):
		// ErrWaitDelay: it exited 0 but a child it left still holds the
		// output; that child's output is not ours to wait for.
		res.ExitCode = 0
		return res, nil
	case errors.Is(err, context.DeadlineExceeded) && c.Timeout > 0:
		return res, fmt.Errorf("%q did not finish within %s", c.Command, c.Timeout)
	case ctx.Err() != nil:
		return res, fmt.Errorf("%q was stopped: %w", c.Command, ctx.Err())
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal()) // outside Linux, no reaper did it
		}
		return res, fmt.Errorf("%q exited with status %d", c.Command, res.ExitCode)
	}
	return res, fmt.Errorf("running %q: %w", c.Command, err)
}

// TailText joins the last n lines of r's output for a message.
func (r Result) TailText(n int) string {
	t := r.Tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return strings.Join(t, "\n")
}
