package process

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Handle is the server's hold on one running supervisor, from Driver.Start
// or Driver.Adopt. It only reads the supervisor's files and signals its
// process, so it is safe for concurrent use, and dropping it leaves the
// supervisor and its app running.
type Handle struct {
	dir        string
	color      bluegreen.Color
	release    string
	supervisor procIdentity
	grace      time.Duration
	logger     *slog.Logger
}

func newHandle(dir string, st supervisorState, logger *slog.Logger) *Handle {
	return &Handle{
		dir: dir, color: st.Color, release: st.Release, supervisor: st.Supervisor,
		grace: st.StopGrace, logger: logger.With("color", st.Color, "release", st.Release),
	}
}

// Color returns the color the supervised app serves.
func (h *Handle) Color() bluegreen.Color { return h.color }

// Release returns the release id the supervised app runs.
func (h *Handle) Release() string { return h.release }

// StateDir returns the absolute state directory of the supervisor.
func (h *Handle) StateDir() string { return h.dir }

// SupervisorPid returns the pid of the supervisor process.
func (h *Handle) SupervisorPid() int { return h.supervisor.Pid }

// Pid returns the app's pid (its process group id) as the supervisor last
// recorded it: 0 while the app is down between a crash and its restart,
// after a stop, or when the state cannot be read.
func (h *Handle) Pid() int {
	st, err := readState(h.dir)
	if err != nil || st.Supervisor != h.supervisor {
		return 0
	}
	return st.App.Pid
}

// Running reports whether the supervisor and the app it last recorded are
// both alive right now. It is false while a crashed app waits for its
// restart.
func (h *Handle) Running() bool {
	if !h.supervisor.alive() {
		return false
	}
	st, err := readState(h.dir)
	return err == nil && st.Supervisor == h.supervisor && st.App.alive()
}

// Stop asks the supervisor to stop the app (SIGTERM to it; it sends SIGTERM
// to the app's group and SIGKILL after the grace period) and waits until the
// supervisor has exited. If the supervisor is still there when the grace
// period plus a margin has passed, or when ctx ends, Stop kills the
// supervisor and the app's group itself and returns an error saying so
// (wrapping ctx's error if ctx ended). Stopping a supervisor that is already
// gone makes sure its app is gone too and returns nil.
func (h *Handle) Stop(ctx context.Context) error {
	if h.supervisor.alive() {
		if err := syscall.Kill(h.supervisor.Pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("stopping %s supervisor %d: %w", h.color, h.supervisor.Pid, err)
		}
		wctx, cancel := context.WithTimeout(ctx, h.grace+stopMargin)
		gone := waitUntil(wctx, func() bool { return !h.supervisor.alive() })
		cancel()
		if !gone {
			h.logger.Warn("supervisor did not stop in time; killing it and its app", "pid", h.supervisor.Pid)
			h.kill()
			if ctx.Err() != nil {
				return fmt.Errorf("stopping %s: killed supervisor and app: %w", h.color, ctx.Err())
			}
			return fmt.Errorf("stopping %s: the supervisor did not stop within %s; killed it and its app", h.color, h.grace+stopMargin)
		}
	}
	// The supervisor stops its app before it exits, and its death kills
	// the app; this catches an app that escaped both.
	h.killApp()
	return nil
}

// kill sends SIGKILL to the supervisor's group and the app's group and
// waits, briefly, for the supervisor to be gone.
func (h *Handle) kill() {
	if h.supervisor.alive() {
		killGroup(h.supervisor.Pid, syscall.SIGKILL)
	}
	h.killApp()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	waitUntil(ctx, func() bool { return !h.supervisor.alive() })
}

// killApp sends SIGKILL to the app's group if the recorded app is alive.
func (h *Handle) killApp() {
	st, err := readState(h.dir)
	if err == nil && st.Supervisor == h.supervisor && st.App.alive() {
		h.logger.Warn("killing app left behind by its supervisor", "pid", st.App.Pid)
		killGroup(st.App.Pid, syscall.SIGKILL)
	}
}

// Events returns the lifecycle events appended to events.jsonl from byte
// offset since (0 for all of them) and the offset to pass next time. A
// negative since is EINVALID.
func (h *Handle) Events(since int) ([]Event, int, error) {
	return readEvents(filepath.Join(h.dir, eventsFile), since)
}

// LogTail returns the last n lines of the app's output, oldest first,
// reading into the rotated files (app.log.1 ...) when app.log holds fewer.
func (h *Handle) LogTail(n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	return tailLines(filepath.Join(h.dir, appLogFile), n)
}
