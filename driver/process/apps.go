package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Apps runs each color's app with a Driver and remembers, in
// <Root>/<color>/current, which supervisor runs it, so that a new server
// re-adopts the running apps (Adopt) instead of stopping them. It is the
// controller's app driver (Start, Stop) and app log source (LogTail).
// An Apps is safe for concurrent use.
type Apps struct {
	drv       *Driver
	root      string
	command   string
	stopGrace time.Duration

	mu      sync.Mutex
	handles map[bluegreen.Color]*Handle
	offsets map[*Handle]int // how far Events has read each handle's events
}

// AppsConfig configures NewApps.
type AppsConfig struct {
	// Binary runs the supervisors (see New): normally the running
	// bluegreen executable.
	Binary string
	// Root is the directory holding one directory per color (normally
	// <state>/run).
	Root string
	// Command is the app's shell command; StopGrace its stop grace period
	// (0: the Spec's default).
	Command   string
	StopGrace time.Duration
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// NewApps returns an Apps running no app yet; call Adopt to find those a
// previous server started.
func NewApps(cfg AppsConfig) *Apps {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Apps{
		drv: New(cfg.Binary, logger), root: cfg.Root, command: cfg.Command,
		stopGrace: cfg.StopGrace, handles: map[bluegreen.Color]*Handle{}, offsets: map[*Handle]int{},
	}
}

func (p *Apps) currentFile(c bluegreen.Color) string {
	return filepath.Join(p.root, string(c), "current")
}

// Adopt re-attaches to the apps a previous server started and returns, per
// color that had one, a sentence saying what it found ("re-adopted release
// ..." or why not). Events already written by an adopted app are skipped:
// the history has them.
func (p *Apps) Adopt() map[bluegreen.Color]string {
	found := map[bluegreen.Color]string{}
	for _, c := range bluegreen.Colors {
		b, err := os.ReadFile(p.currentFile(c))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			found[c] = "cannot read " + p.currentFile(c) + ": " + err.Error()
			continue
		}
		dir := strings.TrimSpace(string(b))
		h, err := p.drv.Adopt(dir)
		if err != nil {
			found[c] = "not re-adopted: " + err.Error()
			continue
		}
		_, off, _ := h.Events(0) // history already has what happened before
		p.mu.Lock()
		p.handles[c] = h
		p.offsets[h] = off
		p.mu.Unlock()
		found[c] = fmt.Sprintf("re-adopted release %s (app pid %d, supervisor pid %d)", h.Release(), h.Pid(), h.SupervisorPid())
	}
	return found
}

// Start starts release rel of color c from dir with env (see Driver.Start)
// and records it as color's current app, running the AppsConfig's Command
// with its StopGrace. Whatever ran for c must have been stopped with Stop.
func (p *Apps) Start(ctx context.Context, c bluegreen.Color, rel, dir string, env []string) error {
	return p.StartCommand(ctx, c, rel, dir, p.command, p.stopGrace, env)
}

// StartCommand is Start with the app's shell command and stop grace given
// for this start instead of the AppsConfig's (an agent gets both with each
// order); stopGrace 0 means the Spec's default. The Handle's Stop later
// uses this stopGrace.
func (p *Apps) StartCommand(ctx context.Context, c bluegreen.Color, rel, dir, command string, stopGrace time.Duration, env []string) error {
	stateDir := filepath.Join(p.root, string(c), rel)
	h, err := p.drv.Start(ctx, Spec{Color: c, Release: rel, Dir: dir, Command: command, Env: env,
		StateDir: stateDir, StopGrace: stopGrace})
	if err != nil {
		return err
	}
	cur := p.currentFile(c)
	err = os.MkdirAll(filepath.Dir(cur), 0o700)
	if err == nil {
		err = writeFileAtomic(cur, []byte(stateDir+"\n"), 0o600)
	}
	if err != nil {
		_ = h.Stop(ctx)
		return fmt.Errorf("recording the running app: %w", err)
	}
	p.mu.Lock()
	p.handles[c] = h
	p.offsets[h] = 0
	p.mu.Unlock()
	return nil
}

// Stop stops color c's app and forgets it; nothing running is not an error.
func (p *Apps) Stop(ctx context.Context, c bluegreen.Color) error {
	p.mu.Lock()
	h := p.handles[c]
	delete(p.handles, c)
	p.mu.Unlock()
	if h != nil {
		if err := h.Stop(ctx); err != nil {
			return err
		}
	}
	if err := os.Remove(p.currentFile(c)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// LogTail returns the last n lines of color c's app output; ENOTFOUND when
// no app of c is running.
func (p *Apps) LogTail(c bluegreen.Color, n int) ([]string, error) {
	p.mu.Lock()
	h := p.handles[c]
	p.mu.Unlock()
	if h == nil {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "no %s app is running", c)
	}
	return h.LogTail(n)
}

// App returns what is known of color c's app: the release it runs and its
// pid as its supervisor last recorded it (see Handle.Pid: 0 while the app
// is down); ok is false when no supervisor of c was started or re-adopted.
func (p *Apps) App(c bluegreen.Color) (release string, pid int, ok bool) {
	p.mu.Lock()
	h := p.handles[c]
	p.mu.Unlock()
	if h == nil {
		return "", 0, false
	}
	return h.Release(), h.Pid(), true
}

// Events returns the app lifecycle events written since the previous call,
// as history events (crashes and restarts are worth recording). Each event
// is returned once.
func (p *Apps) Events() []bluegreen.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []bluegreen.Event
	for c, h := range p.handles {
		evs, off, err := h.Events(p.offsets[h])
		if err != nil {
			continue
		}
		p.offsets[h] = off
		for _, e := range evs {
			outcome := bluegreen.OutcomeOK
			if e.Kind == EventExited || e.Kind == EventStartFailed {
				outcome = bluegreen.OutcomeFailed
			}
			out = append(out, bluegreen.Event{Time: e.Time, Actor: "bluegreen", Action: bluegreen.ActionProcess, Color: c,
				Outcome: outcome, Message: e.Message, Details: map[string]any{"kind": e.Kind, "release": e.Release, "pid": e.Pid}})
		}
	}
	return out
}
