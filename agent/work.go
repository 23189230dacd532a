package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/runner"
)

// work is the carrying out of one order. Its progress (state) is guarded
// by the agent's mu.
type work struct {
	order    bluegreen.HostOrder
	ctx      context.Context // ends when the work is cancelled
	cancelFn context.CancelCauseFunc
	state    bluegreen.AgentWork
}

// snapshot returns a copy of the work's progress; the caller holds a.mu.
func (w *work) snapshot() *bluegreen.AgentWork {
	s := w.state
	s.Output = slices.Clone(s.Output)
	return &s
}

// cancel gives up the work for reason when it has not reached its starting
// phase (from there on it finishes); the caller holds a.mu. It reports
// whether this call cancelled it.
func (w *work) cancel(reason error) bool {
	p := w.state.Phase
	if (p != bluegreen.AgentFetching && p != bluegreen.AgentBuilding) || w.ctx.Err() != nil {
		return false
	}
	w.cancelFn(reason)
	return true
}

// errStopping cancels the work when the agent stops: the next agent
// carries the order out again.
var errStopping = errors.New("the agent is stopping")

// deploymentID is what a deployment ID must look like to name a directory.
var deploymentID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// act carries out serve's answer: it starts the work of a new order,
// cancels the work whose order went away or changed, and leaves alone an
// order already carried out.
func (a *agent) act(ctx context.Context, order *bluegreen.HostOrder) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.work; w != nil && !w.state.Phase.Final() {
		reason := ""
		switch {
		case order == nil:
			reason = "the order went away"
		case order.Deployment != w.order.Deployment:
			reason = "the order now names deployment " + order.Deployment
		}
		if reason != "" && w.cancel(errors.New(reason)) {
			a.log.Info("giving up the work", "deployment", w.order.Deployment, "why", reason)
		}
		return
	}
	if order == nil || order.Deployment == a.st.Done {
		return
	}
	if _, _, ok := a.apps.App(a.st.Color); ok && order.Deployment == a.st.Deployment {
		// Its app already runs (re-adopted without a record of the order):
		// carrying it out again would replace the running release's files.
		a.st.Done = order.Deployment
		a.st.Work = &bluegreen.AgentWork{Deployment: order.Deployment, SHA: a.st.SHA, Phase: bluegreen.AgentStarted}
		a.saveLocked()
		return
	}
	// Only the agent cancels the work (act, or its loop when it stops):
	// the cancellation and the starting phase exclude each other under mu.
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	w := &work{order: *order, ctx: wctx, cancelFn: cancel,
		state: bluegreen.AgentWork{Deployment: order.Deployment, SHA: order.SHA, Phase: bluegreen.AgentFetching}}
	a.work = w
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel(nil)
		a.finish(w, a.carryOut(w))
	}()
}

// stepError is a failed step with its last lines of output.
type stepError struct {
	err    error
	output []string
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// carryOut fetches, builds and starts the order's release.
func (a *agent) carryOut(w *work) error {
	o := w.order
	a.log.Info("carrying out an order", "deployment", o.Deployment, "color", o.Color, "ref", o.Ref, "sha", o.SHA,
		"build_steps", len(o.Build))
	switch {
	case !deploymentID.MatchString(o.Deployment):
		return fmt.Errorf("the order's deployment ID %q cannot name a directory", o.Deployment)
	case !o.Color.Valid():
		return fmt.Errorf("the order's color %q is not blue or green", o.Color)
	case o.Stop:
		return a.stopApp(w)
	case o.SHA == "" || o.Run == "":
		return errors.New("the order names no release (sha) or no run command")
	}
	if err := a.enter(w, bluegreen.AgentFetching, ""); err != nil {
		return err
	}
	dir, err := a.fetch(w.ctx, o)
	if err != nil {
		return err
	}
	env := a.env(o)
	for i, step := range o.Build {
		if err := a.enter(w, bluegreen.AgentBuilding, fmt.Sprintf("build %d/%d", i+1, len(o.Build))); err != nil {
			return err
		}
		res, err := runner.Run(w.ctx, runner.Cmd{Command: step, Dir: dir, Env: env}, func(line string) {
			a.mu.Lock()
			w.state.Output = lastLines(append(w.state.Output, cutLine(line)), runner.TailLines)
			a.mu.Unlock()
		})
		if err != nil {
			return &stepError{err: fmt.Errorf("build step %d/%d: %w", i+1, len(o.Build), err), output: res.Tail}
		}
	}
	if err := a.enter(w, bluegreen.AgentStarting, ""); err != nil {
		return err
	}
	// From here on the work finishes, even when the agent is stopping.
	grace := time.Duration(o.StopGraceMS) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), grace+2*time.Minute)
	defer cancel()
	return a.replaceApp(ctx, o, dir, grace, env)
}

// enter moves w to phase (step names the build step), saves the state and
// makes the loop report at once. It returns the cancellation's error when
// w was cancelled.
func (a *agent) enter(w *work, phase bluegreen.AgentPhase, step string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := w.ctx.Err(); err != nil {
		return cancelled(w.ctx)
	}
	w.state.Phase, w.state.Step, w.state.Output = phase, step, nil
	a.st.Work = w.snapshot()
	a.saveLocked()
	a.poke()
	return nil
}

func cancelled(ctx context.Context) error {
	return fmt.Errorf("cancelled: %w", context.Cause(ctx))
}

// saveLocked saves the state, logging a failure; the caller holds a.mu.
func (a *agent) saveLocked() {
	if err := a.st.save(a.o.Dir); err != nil {
		a.log.Error("cannot save the agent state", "err", err)
	}
}

// fetch downloads the order's release archive and unpacks it into
// releases/<deployment>, through a temporary directory renamed when whole.
func (a *agent) fetch(ctx context.Context, o bluegreen.HostOrder) (string, error) {
	releases := filepath.Join(a.o.Dir, releasesDir)
	if err := os.MkdirAll(releases, 0o700); err != nil {
		return "", err
	}
	removeStale(releases)
	f, err := os.CreateTemp(releases, ".fetch-*.tar")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := a.o.Client.ReleaseArchive(ctx, a.o.Host, o.SHA, f); err != nil {
		if ctx.Err() != nil {
			return "", cancelled(ctx)
		}
		return "", fmt.Errorf("fetching release %s: %w", o.SHA, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(releases, ".unpack-*")
	if err != nil {
		return "", err
	}
	if err := Unpack(f, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("release %s: %w", o.SHA, err)
	}
	dir := filepath.Join(releases, o.Deployment)
	if err := os.RemoveAll(dir); err != nil { // a try interrupted earlier
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	now := a.o.Now()
	_ = os.Chtimes(dir, now, now) // prune keeps the newest
	return dir, nil
}

// removeStale removes what an agent killed while fetching left behind.
func removeStale(releases string) {
	des, _ := os.ReadDir(releases)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".fetch-") || strings.HasPrefix(de.Name(), ".unpack-") {
			os.RemoveAll(filepath.Join(releases, de.Name()))
		}
	}
}

// baseEnv names what the agent passes of its own environment to the build
// steps and the app, before the order's Env.
var baseEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// env is the build steps' and the app's environment. It may hold
// secrets: never log it.
func (a *agent) env(o bluegreen.HostOrder) []string {
	var env []string
	for _, k := range baseEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, o.Env...)
}

// stopApp carries out a Stop order: the running app, if any, is stopped
// and nothing runs after it.
func (a *agent) stopApp(w *work) error {
	if err := a.enter(w, bluegreen.AgentStarting, ""); err != nil {
		return err
	}
	grace := time.Duration(w.order.StopGraceMS) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), grace+2*time.Minute)
	defer cancel()
	return a.stopRunning(ctx)
}

// stopRunning stops the running app, if any, and records that none runs.
func (a *agent) stopRunning(ctx context.Context) error {
	a.mu.Lock()
	old := a.st.Color
	a.mu.Unlock()
	if old == "" {
		return nil
	}
	if err := a.apps.Stop(ctx, old); err != nil {
		return fmt.Errorf("stopping the running app: %w", err)
	}
	a.mu.Lock()
	a.st.Color, a.st.Deployment, a.st.SHA = "", "", ""
	a.saveLocked()
	a.mu.Unlock()
	return nil
}

// replaceApp stops the running app and starts the order's.
func (a *agent) replaceApp(ctx context.Context, o bluegreen.HostOrder, dir string, grace time.Duration, env []string) error {
	if err := a.stopRunning(ctx); err != nil {
		return err
	}
	if err := a.apps.StartCommand(ctx, o.Color, o.Deployment, dir, o.Run, grace, env); err != nil {
		return fmt.Errorf("starting the app: %w", err)
	}
	a.mu.Lock()
	a.st.Color, a.st.Deployment, a.st.SHA = o.Color, o.Deployment, o.SHA
	a.mu.Unlock()
	return nil
}

// finish ends w with err (nil: started), records its deployment as carried
// out, reports at once and, after a start, prunes old releases.
func (a *agent) finish(w *work, err error) {
	o := w.order
	a.mu.Lock()
	var se *stepError
	if !errors.As(err, &se) {
		w.state.Step = "" // a failed build step keeps its name
	}
	switch {
	case err == nil && o.Stop:
		w.state.Phase, w.state.Output = bluegreen.AgentStopped, nil
	case err == nil:
		w.state.Phase, w.state.Output = bluegreen.AgentStarted, nil
	default:
		w.state.Phase, w.state.Error, w.state.Output = bluegreen.AgentFailed, err.Error(), nil
		if w.ctx.Err() != nil && !strings.HasPrefix(w.state.Error, "cancelled: ") {
			w.state.Error = cancelled(w.ctx).Error()
		}
		if se != nil {
			w.state.Output = lastLines(boundLines(se.output, maxLogBytes), runner.TailLines)
		}
	}
	a.st.Work = w.snapshot()
	if !errors.Is(context.Cause(w.ctx), errStopping) {
		a.st.Done = o.Deployment
	}
	a.saveLocked()
	_, pid, _ := a.apps.App(o.Color)
	a.mu.Unlock()
	a.poke()
	switch {
	case err != nil:
		a.log.Error("the order failed", "deployment", o.Deployment, "sha", o.SHA, "err", err)
		return
	case o.Stop:
		a.log.Info("stopped the app, as ordered", "deployment", o.Deployment)
		return
	}
	a.log.Info("the order's app started", "deployment", o.Deployment, "sha", o.SHA, "app_pid", pid)
	a.prune(o)
}

// prune removes the release directories (and their stopped supervisors'
// state) beyond the newest o.KeepReleases, never the running one's.
func (a *agent) prune(o bluegreen.HostOrder) {
	releases := filepath.Join(a.o.Dir, releasesDir)
	des, err := os.ReadDir(releases)
	if err != nil {
		return
	}
	type rel struct {
		name string
		mod  time.Time
	}
	var rels []rel
	for _, de := range des {
		fi, err := de.Info()
		if err != nil || !de.IsDir() || strings.HasPrefix(de.Name(), ".") || de.Name() == o.Deployment {
			continue
		}
		rels = append(rels, rel{de.Name(), fi.ModTime()})
	}
	slices.SortFunc(rels, func(x, y rel) int { return y.mod.Compare(x.mod) })
	keep := max(o.KeepReleases, 1) - 1 // the running one is kept apart
	for _, r := range rels[min(keep, len(rels)):] {
		err := os.RemoveAll(filepath.Join(releases, r.name))
		for _, c := range bluegreen.Colors {
			if e := os.RemoveAll(filepath.Join(a.o.Dir, runDir, string(c), r.name)); err == nil {
				err = e
			}
		}
		if err != nil {
			a.log.Warn("cannot prune an old release", "deployment", r.name, "err", err)
		}
	}
}

// lastLines returns the last n of lines.
func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
