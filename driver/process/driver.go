package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Driver starts and re-adopts supervisors. It holds no per-app state, so a
// Driver may be dropped at any time (the server dies) without touching the
// apps, and a new one can Adopt them. A Driver is safe for concurrent use,
// but two Starts on the same StateDir conflict (one gets ECONFLICT).
type Driver struct {
	binary string
	logger *slog.Logger
}

// New returns a Driver that runs supervisors as `binary supervise --spec
// FILE`; binary is normally the running bluegreen executable
// (os.Executable). A nil logger discards.
func New(binary string, logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{binary: binary, logger: logger.With("component", "process")}
}

// Start writes spec to StateDir/spec.json (mode 0600), launches a supervisor
// detached from the caller (a new session, stdin /dev/null, output to
// StateDir/supervisor.log) and returns once the supervisor has started the
// app for the first time. Relative Dir and StateDir are made absolute.
//
// Start returns EINVALID for a bad spec, ECONFLICT when a supervisor already
// runs in StateDir, and an error quoting the supervisor's log when the
// supervisor exits before starting the app. When ctx ends first, the
// supervisor is killed and ctx's error is returned, wrapped.
func (d *Driver) Start(ctx context.Context, spec Spec) (*Handle, error) {
	spec = spec.withDefaults()
	var err error
	if spec.Dir, err = absPath(spec.Dir); err == nil {
		spec.StateDir, err = absPath(spec.StateDir)
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.Color, err)
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("starting %s: creating state directory: %w", spec.Color, err)
	}
	if old, err := readState(spec.StateDir); err == nil {
		if old.Supervisor.alive() {
			return nil, bluegreen.Errorf(bluegreen.ECONFLICT, "%s release %s already runs (supervisor pid %d)", spec.Color, spec.Release, old.Supervisor.Pid)
		}
		// A dead supervisor's state would be mistaken for the new one's.
		if err := os.Remove(filepath.Join(spec.StateDir, stateFile)); err != nil {
			return nil, fmt.Errorf("starting %s: removing stale state: %w", spec.Color, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("starting %s: %w", spec.Color, err)
	}
	specPath, err := writeSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.Color, err)
	}
	logPath := filepath.Join(spec.StateDir, supervisorLog)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting %s: opening supervisor log: %w", spec.Color, err)
	}
	defer logFile.Close() // the child has its own copy

	cmd := exec.Command(d.binary, "supervise", "--spec", specPath)
	cmd.Dir = spec.StateDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A new session: no signal sent to the server's process group or
	// terminal reaches the supervisor, and it has no parent-death signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s supervisor: %w", spec.Color, err)
	}
	// While we live, the supervisor is our child: reap it when it exits.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	pid := cmd.Process.Pid
	d.logger.Info("supervisor started", "color", spec.Color, "release", spec.Release, "pid", pid)

	var st supervisorState
	up := func() bool {
		var err error
		st, err = readState(spec.StateDir)
		return err == nil && st.Supervisor.Pid == pid && st.Starts > 0
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	if !waitUntil(waitCtx, up) {
		select {
		case <-exited:
			return nil, fmt.Errorf("starting %s: the supervisor exited: %s", spec.Color, lastLines(logPath, 5))
		default:
		}
		killGroup(pid, syscall.SIGKILL) // its session leader's pid is its group
		if st.App.Pid > 0 {
			killGroup(st.App.Pid, syscall.SIGKILL)
		}
		return nil, fmt.Errorf("starting %s: waiting for the supervisor: %w", spec.Color, ctx.Err())
	}
	return newHandle(spec.StateDir, st, d.logger), nil
}

// Adopt finds the supervisor recorded in stateDir again, typically after the
// server restarted. It checks that the recorded supervisor pid is alive and
// has the recorded start time (a reused pid is not the supervisor) and
// returns a Handle on it. Whether the app is healthy is for the caller to
// check; Handle.Running says whether its process is up.
//
// Adopt returns ENOTFOUND when stateDir holds no supervisor state or when the
// supervisor is gone (exited, or its pid now names another process).
func (d *Driver) Adopt(stateDir string) (*Handle, error) {
	dir, err := absPath(stateDir)
	if err != nil {
		return nil, fmt.Errorf("adopting: %w", err)
	}
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "no supervisor was recorded in %s", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("adopting: %w", err)
	}
	if !st.Supervisor.alive() {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "the supervisor of %s release %s (pid %d) is gone", st.Color, st.Release, st.Supervisor.Pid)
	}
	d.logger.Info("supervisor adopted", "color", st.Color, "release", st.Release, "pid", st.Supervisor.Pid, "app_pid", st.App.Pid)
	return newHandle(dir, st, d.logger), nil
}

func absPath(p string) (string, error) {
	if p == "" {
		return "", nil // validate names the missing field
	}
	return filepath.Abs(p)
}

// lastLines returns the last n lines of a log file joined with " | ", for an
// error message.
func lastLines(path string, n int) string {
	lines, err := tailFile(path, n)
	if err != nil || len(lines) == 0 {
		return "no output (see " + path + ")"
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return strings.Join(lines, " | ")
}

// stopMargin is how long Handle.Stop waits beyond the grace period for the
// supervisor to finish its own stop before it kills everything itself.
const stopMargin = 5 * time.Second
