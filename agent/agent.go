// Package agent is `bluegreen agent`: the process that runs a color's app
// on one host of the color's `hosts:`. It has no inbound port. Every
// Interval it reports to serve (POST /v1/agent/{host}) what it runs and
// does, and carries out the order the answer holds (bluegreen.HostOrder):
// it fetches the release's archive, unpacks it into a directory of its
// own, runs the build steps there, stops the app and starts the new one
// under the process driver's supervisor, reporting each phase at once.
//
// The agent's directory holds:
//
//	agent.lock      held while an agent runs on the directory (its pid)
//	agent.json      the app it runs, the deployment it last carried out, its latest work
//	releases/<id>   one release directory per deployment (the newest KeepReleases kept)
//	run/            the process driver's state: the app's supervisor, logs and events
//
// The app outlives the agent: a restarted agent re-adopts it and reports
// the same release and pid. Serve being unreachable changes nothing on the
// host: the agent keeps the app running and retries with backoff.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/driver/process"
)

// DefaultInterval is the report period when Options.Interval is 0.
const DefaultInterval = 2 * time.Second

// MaxBackoff bounds the wait between two reports while serve cannot be
// reached.
const MaxBackoff = 30 * time.Second

// reportTimeout bounds one report call.
const reportTimeout = 15 * time.Second

// Options configures Run.
type Options struct {
	// Client talks to serve with the host's agent token. Required.
	Client *api.Client
	// Host is the host's name in the color's `hosts:`. Required.
	Host string
	// Dir is the agent's directory, made with mode 0700 when missing. One
	// agent at a time may run on it. Required.
	Dir string
	// Interval is the report period; 0 means DefaultInterval.
	Interval time.Duration
	// Version is the agent's version, reported to serve.
	Version string
	// Binary runs the app's supervisor as `Binary supervise --spec FILE`:
	// normally the running bluegreen executable (os.Executable). Required.
	Binary string
	// Logger may be nil (discard).
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Run runs host's agent until ctx ends, then returns nil, leaving the app
// running for the next agent to re-adopt. It returns an error only when it
// cannot start: a missing option (EINVALID), a directory it cannot make or
// whose state it cannot read, or another agent on the same directory
// (ECONFLICT). Errors of serve (unreachable, 403, 404, ...) never end it:
// they are logged, with what to fix, and the report retried.
func Run(ctx context.Context, o Options) error {
	switch {
	case o.Client == nil:
		return bluegreen.Errorf(bluegreen.EINVALID, "agent: no API client")
	case o.Host == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "agent: no host name (--host)")
	case o.Dir == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "agent: no directory (--dir)")
	case o.Binary == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "agent: no binary to run the supervisor")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("agent directory: %w", err)
	}
	o.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	st, err := loadState(dir)
	if err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	a := &agent{o: o, log: o.Logger.With("component", "agent", "host", o.Host), st: st,
		apps: process.NewApps(process.AppsConfig{Binary: o.Binary, Root: filepath.Join(dir, runDir), Logger: o.Logger}),
		wake: make(chan struct{}, 1)}
	a.adopt()
	return a.loop(ctx)
}

// agent is one running agent. mu guards st and work; the loop goroutine
// alone calls serve, the work goroutine alone changes the app.
type agent struct {
	o    Options
	log  *slog.Logger
	apps *process.Apps
	wake chan struct{} // a phase changed: report now

	mu   sync.Mutex
	st   savedState
	work *work // the latest order's work, nil before the first one of this run
	wg   sync.WaitGroup
}

// adopt re-attaches to the app a previous agent started and reconciles the
// state file with what it found.
func (a *agent) adopt() {
	for c, what := range a.apps.Adopt() {
		a.log.Info("app of the previous agent", "color", c, "found", what)
	}
	st := &a.st
	color, rel := st.Color, ""
	if r, _, ok := a.apps.App(color); ok && color != "" {
		rel = r
	} else {
		for _, c := range bluegreen.Colors {
			if r, _, ok := a.apps.App(c); ok {
				color, rel = c, r
			}
		}
	}
	w := st.Work
	switch {
	case rel == "" && st.Deployment == "":
		a.log.Info("no app runs yet")
	case rel == "":
		a.log.Warn("the app the previous agent started is not running", "deployment", st.Deployment, "sha", st.SHA)
	case rel == st.Deployment && color == st.Color:
		_, pid, _ := a.apps.App(color)
		a.log.Info("re-adopted the app", "deployment", st.Deployment, "sha", st.SHA, "app_pid", pid)
	case w != nil && rel == w.Deployment:
		// Stopped after starting the new app, before it said so.
		a.log.Info("the previous agent stopped while starting; the app it started runs", "deployment", w.Deployment)
		st.Color, st.Deployment, st.SHA, st.Done = color, w.Deployment, w.SHA, w.Deployment
		w.Phase, w.Step, w.Error, w.Output = bluegreen.AgentStarted, "", "", nil
	default:
		a.log.Warn("re-adopted an app the state file does not name", "deployment", rel, "state_names", st.Deployment)
		st.Color, st.Deployment, st.SHA = color, rel, ""
	}
	if w != nil && !w.Phase.Final() {
		// Reported failed, and not carried out again: serve fails the host
		// at this report, and a later deploy orders it anew.
		st.Work = &bluegreen.AgentWork{Deployment: w.Deployment, SHA: w.SHA, Phase: bluegreen.AgentFailed,
			Error: "interrupted: the agent stopped while " + string(w.Phase)}
		st.Done = w.Deployment
	}
	if err := st.save(a.o.Dir); err != nil {
		a.log.Error("cannot save the agent state", "err", err)
	}
}

// loop reports every Interval (at once after a phase change), backing off
// while serve cannot be reached, until ctx ends; then it cancels the work
// before its starting phase, waits for it and returns nil.
func (a *agent) loop(ctx context.Context) error {
	defer func() {
		a.mu.Lock()
		if a.work != nil {
			a.work.cancel(errStopping)
		}
		a.mu.Unlock()
		a.wg.Wait()
	}()
	var (
		lostSince time.Time // zero while serve answers
		lostCode  string    // the error code of the last failed report
		delay     = a.o.Interval
		timer     = time.NewTimer(0)
	)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-a.wake:
		}
		// Idle, the report waits at serve (up to the interval) for an
		// order: the agent learns of a deployment at once.
		wait := time.Duration(0)
		if a.idle() {
			wait = min(a.o.Interval, api.MaxReportWait)
		}
		began := a.o.Now()
		rctx, cancel := context.WithTimeout(ctx, reportTimeout+wait)
		hi, err := a.o.Client.Report(rctx, a.o.Host, a.report(), wait)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		switch code := bluegreen.ErrorCode(err); {
		case err != nil && lostSince.IsZero():
			lostSince, lostCode = a.o.Now(), code
			a.log.Error("lost contact with serve; the app keeps running, retrying with backoff", "err", err, "fix", fixFor(err, a.o.Host))
			fallthrough
		case err != nil:
			if code != lostCode {
				lostCode = code
				a.log.Error("serve is still out of reach, for another reason now", "err", err, "fix", fixFor(err, a.o.Host))
			}
			delay = max(min(2*delay, MaxBackoff), a.o.Interval)
		default:
			if !lostSince.IsZero() {
				a.log.Info("contact with serve is back", "lost_for", a.o.Now().Sub(lostSince).Round(time.Millisecond).String())
				lostSince = time.Time{}
			}
			// The wait at serve counts as the interval's.
			delay = max(a.o.Interval-a.o.Now().Sub(began), 0)
			a.act(ctx, hi.Order)
		}
		timer.Reset(jitter(delay))
	}
}

// jitter returns d less up to a tenth of it, so that agents restarted
// together do not call serve in step.
func jitter(d time.Duration) time.Duration {
	if d < 10 {
		return d
	}
	return d - rand.N(d/10)
}

const reachServe = "check that serve runs and that the agent's --server address reaches it"

// fixFor says what to do about an error of serve.
func fixFor(err error, host string) string {
	switch bluegreen.ErrorCode(err) {
	case bluegreen.EUNAUTHORIZED:
		return "serve does not know the agent's token: create one with `bluegreen token create --role agent --host " + host + "` and give it to the agent"
	case bluegreen.EFORBIDDEN:
		return "the token may not act for host " + host + ": use an agent token created with --host " + host
	case bluegreen.ENOTFOUND:
		return "no color of serve's configuration lists host " + host + ": add it to a color's hosts: or fix --host"
	case bluegreen.EUNAVAILABLE:
		return reachServe
	}
	var be *bluegreen.Error
	if errors.As(err, &be) {
		return "serve answered " + be.Code + ": see serve's log"
	}
	return reachServe
}

// report is what the agent tells serve now.
func (a *agent) report() bluegreen.AgentReport {
	a.mu.Lock()
	st := a.st
	var work *bluegreen.AgentWork
	if a.work != nil {
		work = a.work.snapshot()
	} else if st.Work != nil {
		w := *st.Work
		work = &w
	}
	a.mu.Unlock()
	rep := bluegreen.AgentReport{Version: a.o.Version, PID: os.Getpid(), Work: work}
	if st.Color == "" {
		return rep
	}
	rep.Release, rep.Deployment = st.SHA, st.Deployment
	_, rep.AppPID, rep.Supervised = a.apps.App(st.Color)
	if lines, err := a.apps.LogTail(st.Color, bluegreen.AgentLogLines); err == nil {
		rep.Log = boundLines(lines, maxLogBytes)
	}
	return rep
}

// Bounds of what a report carries, well under serve's 1 MiB limit.
const (
	maxLineBytes = 2 << 10   // one line of output
	maxLogBytes  = 256 << 10 // the app's log lines together
)

// boundLines cuts each line to maxLineBytes and drops the oldest lines past
// max bytes in all.
func boundLines(lines []string, max int) []string {
	out := make([]string, len(lines))
	total, first := 0, 0
	for i := len(lines) - 1; i >= 0; i-- {
		out[i] = cutLine(lines[i])
		total += len(out[i])
		if total > max {
			first = i + 1
			break
		}
	}
	return out[first:]
}

// cutLine cuts a line longer than maxLineBytes at a UTF-8 boundary.
func cutLine(s string) string {
	if len(s) <= maxLineBytes {
		return s
	}
	n := maxLineBytes
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + " [cut: " + fmt.Sprint(len(s)) + " bytes]"
}

// idle reports whether the agent works on no order.
func (a *agent) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.work == nil || a.work.state.Phase.Final()
}

// poke makes the loop report at once.
func (a *agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}
