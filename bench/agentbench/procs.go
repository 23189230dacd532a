package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

// proc is one process the benchmark started: its stdout goes to one file,
// its stderr (where bluegreen logs) to another.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out, log string
	done     chan struct{} // closed when the process has exited
}

// startProc runs bin with args, named name, its stdout in dir/name.out and
// its stderr in dir/name.log, in its own process group so that a Ctrl-C at
// the terminal reaches only this program, which then stops it by PID.
func startProc(dir, name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, out: filepath.Join(dir, name+".out"), log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	outf, err := os.Create(p.out)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(p.log)
	if err != nil {
		outf.Close()
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = outf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		outf.Close()
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		outf.Close()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends p: SIGTERM, then SIGKILL after grace. It returns once p has
// exited; a process already gone is left alone.
func (p *proc) stop(grace time.Duration) { benchkit.Terminate(p.cmd.Process, p.done, grace) }

// exited returns an error naming p's log when p has exited, nil while it
// runs.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); its log: %s", p.name, p.cmd.ProcessState, p.log)
	default:
		return nil
	}
}

// readJSON waits until p's stdout starts with a whole JSON value and
// decodes it into v, for at most limit.
func (p *proc) readJSON(ctx context.Context, limit time.Duration, v any) error {
	var lastErr error
	err := benchkit.Poll(ctx, limit, func() bool {
		f, err := os.Open(p.out)
		if err != nil {
			lastErr = err
			return false
		}
		defer f.Close()
		if lastErr = json.NewDecoder(f).Decode(v); lastErr == nil {
			return true
		}
		return p.exited() != nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("waiting for %s's first output (last: %v; log: %s): %w", p.name, lastErr, p.log, err)
	case lastErr != nil:
		return fmt.Errorf("%w before its first output (%v)", p.exited(), lastErr)
	}
	return nil
}

// ports hands out ports on 127.0.0.1 that nothing listened on a moment
// ago, never the same twice in a run: apps start on them later, and two
// fleets are set up before either's apps listen.
type ports map[int]bool

// next returns a fresh port.
func (given ports) next() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no fresh port on 127.0.0.1 in 100 tries")
}
