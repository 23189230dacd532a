package notify

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/runner"
)

// Hook runs the `app.hooks.notify` command for automatic rollbacks and for
// failed deploys, verifications, watches and rollbacks, one at a time in a
// background goroutine it owns until Close; its failures are recorded,
// never returned. Notify and Close are safe for concurrent use.
type Hook struct {
	command, dir string
	env          []string
	queue        chan bluegreen.Event
	record       func(bluegreen.Event)
	logger       *slog.Logger
	done         chan struct{} // closed when loop has ended

	mu     sync.Mutex // guards closed and sends on queue
	closed bool
}

// HookConfig configures NewHook.
type HookConfig struct {
	// Command runs with /bin/sh -c in Dir, with Env plus BLUEGREEN_EVENT
	// (deploy_failed, automatic_rollback...), BLUEGREEN_MESSAGE,
	// BLUEGREEN_COLOR and BLUEGREEN_HOOK=notify; each run is bounded to a
	// minute.
	Command, Dir string
	Env          []string
	// Record receives the hook's own failures and dropped notices (as
	// ActionNotify events); required.
	Record func(bluegreen.Event)
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// NewHook starts the hook's worker; Close stops it.
func NewHook(cfg HookConfig) *Hook {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Hook{command: cfg.Command, dir: cfg.Dir, env: cfg.Env, queue: make(chan bluegreen.Event, 64), record: cfg.Record,
		logger: logger, done: make(chan struct{})}
	go n.loop()
	return n
}

// Close stops taking notices and waits, until ctx ends, for the queued ones
// to run; what is still queued then is recorded as abandoned. Calling it
// again does nothing.
func (n *Hook) Close(ctx context.Context) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	close(n.queue)
	n.mu.Unlock()
	select {
	case <-n.done:
	case <-ctx.Done():
		if left := len(n.queue); left > 0 {
			n.record(bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionNotify,
				Outcome: bluegreen.OutcomeFailed, Message: fmt.Sprintf("notify hook: %d notices abandoned at shutdown", left)})
		}
	}
}

// wants reports whether ev is worth running the hook for.
func (n *Hook) wants(ev bluegreen.Event) bool {
	if ev.Action == bluegreen.ActionNotify {
		return false
	}
	if automatic, _ := ev.Details["automatic"].(bool); automatic {
		return true
	}
	return ev.Outcome == bluegreen.OutcomeFailed &&
		(ev.Action == bluegreen.ActionDeploy || ev.Action == bluegreen.ActionVerify || ev.Action == bluegreen.ActionWatch ||
			ev.Action == bluegreen.ActionRollback)
}

// Notify queues ev for the hook, dropping it (with a record) when the queue
// is full: a stuck hook never blocks an operation.
func (n *Hook) Notify(ev bluegreen.Event) {
	if !n.wants(ev) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	select {
	case n.queue <- ev:
	default:
		n.record(bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionNotify, Color: ev.Color,
			Outcome: bluegreen.OutcomeFailed, Message: "notify hook queue full: dropped the notice of " + string(ev.Action)})
	}
}

func (n *Hook) loop() {
	defer close(n.done)
	for ev := range n.queue {
		kind := string(ev.Action)
		if automatic, _ := ev.Details["automatic"].(bool); automatic {
			kind = "automatic_" + string(ev.Action)
		} else if ev.Outcome == bluegreen.OutcomeFailed {
			kind = string(ev.Action) + "_failed"
		}
		env := append(append([]string(nil), n.env...), "BLUEGREEN_EVENT="+kind, "BLUEGREEN_MESSAGE="+ev.Message,
			"BLUEGREEN_COLOR="+string(ev.Color), "BLUEGREEN_HOOK=notify")
		res, err := runner.Run(context.Background(), runner.Cmd{Command: n.command, Dir: n.dir, Env: env, Timeout: time.Minute}, nil)
		if err != nil {
			n.logger.Warn("notify hook failed", "err", err)
			n.record(bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionNotify, Color: ev.Color,
				Outcome: bluegreen.OutcomeFailed, Message: fmt.Sprintf("notify hook failed for %s: %v", kind, err),
				Details: map[string]any{"output": res.Tail}})
		}
	}
}
