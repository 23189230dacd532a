package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Commit is a git commit resolved from a ref (the domain's: release.Repo
// returns it, so it is the controller's Source as it is).
type Commit = bluegreen.Commit

// Source fetches releases of the app.
type Source interface {
	// Fetch resolves ref to a commit, fetching from the repository first.
	Fetch(ctx context.Context, ref string) (Commit, error)
	// Checkout writes the tree of sha into dest, which must not exist.
	Checkout(ctx context.Context, sha, dest string) error
	// Archive writes a tar archive of the tree of sha to w, what Checkout
	// would write, streamed; ENOTFOUND (before anything is written) when
	// the commit is unknown, EINVALID when sha is not a full SHA.
	Archive(ctx context.Context, sha string, w io.Writer) error
}

// AppDriver runs a color's app processes.
type AppDriver interface {
	// Start starts the release in dir for color with env; whatever ran for
	// color before must have been stopped with Stop.
	Start(ctx context.Context, color bluegreen.Color, release, dir string, env []string) error
	// Stop stops whatever runs for color; nothing running is not an error.
	Stop(ctx context.Context, color bluegreen.Color) error
}

// StepRunner runs one configured shell command in dir with env, calling
// onLine for each line of output, and returns its exit code and last lines.
type StepRunner func(ctx context.Context, dir, command string, env []string, onLine func(string)) (exitCode int, tail []string, err error)

// DeployConfig is what the controller needs to deploy; nil in Options means
// this bluegreen does not deploy (the configuration has no app section).
type DeployConfig struct {
	Source      Source
	Driver      AppDriver
	Run         StepRunner
	ValidateRef func(ref string) error
	// ReleaseDir names the directory of a new release.
	ReleaseDir func(color bluegreen.Color, t time.Time, sha string) (string, error)
	// Prune removes old releases of color, keeping the newest keep and dir.
	Prune func(color bluegreen.Color, keep int, inUse string)
	// Build are the build steps, in order.
	Build []string
	// Env is the environment of build steps and the app, before the
	// BLUEGREEN_* and PORT variables are added.
	Env []string
	// Ports are each color's app ports; PORT is the first.
	Ports        map[bluegreen.Color][]int
	StartTimeout time.Duration
	KeepReleases int
	// PreDeploy and PostDeploy are optional hook commands run in the
	// release directory; PreSwitch and PostSwitch run in HookDir around
	// every switch and rollback. A failing pre-hook stops its operation.
	PreDeploy, PostDeploy, PreSwitch, PostSwitch string
	// HookDir is the working directory of the switch hooks.
	HookDir string
	// Agents deploys into the colors of hosts run by agents; nil when no
	// color has any.
	Agents *Agents
}

// Deploy deploys req.Ref into req.Color, which must not be live (except for
// the very first deploy into a live color that has no release and fails its
// health check: nothing serves there yet): it takes the
// lock, fetches and checks out the commit into a new release directory, runs
// the build steps, stops the color's app, starts the new release and waits
// until the color passes its health check. Each step is reported to progress
// (which may be nil) as it happens, and kept for DeploymentLog. On any
// failure the color is marked failed with the step and the last lines of
// output, its app is stopped, and the live color is never touched. The
// returned Deployment is also stored in the color's state; its error, if
// any, is also returned. A deploy refused before anything ran (the color
// is live, the lock is held, the ref is invalid...) is recorded in the
// history with outcome refused, as a refused switch is.
func (c *Controller) Deploy(ctx context.Context, req bluegreen.DeployRequest, progress func(bluegreen.Progress)) (bluegreen.Deployment, error) {
	ctx = context.WithoutCancel(ctx) // a deploy runs to its end even if the caller leaves
	r, err := c.prepareDeploy(ctx, req, progress)
	if err != nil {
		return bluegreen.Deployment{}, c.refuse(ctx, bluegreen.ActionDeploy, req.Color, req.Actor, deployWhat(req), err)
	}
	err = r.finish(ctx)
	return r.d.Clone(), err
}

// DeployDetached checks and starts a deployment like Deploy, but returns as
// soon as it holds the lock, with the running deployment; the rest runs in
// the background (follow it with Deployment and DeploymentLog). A deployment
// cut short by a restart is marked interrupted by Reclaim.
func (c *Controller) DeployDetached(ctx context.Context, req bluegreen.DeployRequest) (bluegreen.Deployment, error) {
	ctx = context.WithoutCancel(ctx)
	r, err := c.prepareDeploy(ctx, req, nil)
	if err != nil {
		return bluegreen.Deployment{}, c.refuse(ctx, bluegreen.ActionDeploy, req.Color, req.Actor, deployWhat(req), err)
	}
	d := r.d.Clone()
	go func() { _ = r.finish(ctx) }()
	return d, nil
}

// deployWhat names a deploy request for its refusal: "sync", "deploy of
// v2 into green", "deploy into green" (the color's branch).
func deployWhat(req bluegreen.DeployRequest) string {
	color := string(req.Color)
	if !req.Color.Valid() {
		color = fmt.Sprintf("%.20q", req.Color)
	}
	switch {
	case req.Sync:
		return "sync"
	case req.Ref == "":
		return "deploy into " + color
	}
	return fmt.Sprintf("deploy of %.100q into %s", req.Ref, color)
}

// prepareDeploy validates req and takes the lock; nothing has run yet when
// it fails. Deploy and DeployDetached record its refusals.
func (c *Controller) prepareDeploy(ctx context.Context, req bluegreen.DeployRequest, progress func(bluegreen.Progress)) (*deployRun, error) {
	dc := c.deployCfg
	if dc == nil {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "this bluegreen does not deploy: the configuration has no app: section")
	}
	// The checks below and taking the lock happen under op, so that no
	// switch lands between them: a color found inactive stays inactive
	// until the lock is held (and switches refuse while it is).
	c.op.Lock()
	defer c.op.Unlock()
	st := c.State()
	if req.Sync {
		live := st.Colors[st.Live].Release
		if live == nil {
			return nil, bluegreen.Errorf(bluegreen.EREFUSED,
				"nothing to sync: the live color %s has no release deployed by bluegreen", st.Live)
		}
		req.Color, req.Ref = st.Inactive(), live.SHA
	}
	if !req.Color.Valid() {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "unknown color %q: want blue or green", req.Color)
	}
	bootstrap := false
	if st.Live == req.Color {
		// The one exception: a live color that bluegreen never deployed and
		// that serves nothing (the very first deploy) has no traffic to
		// protect.
		_, herr := c.health.Verify(ctx, req.Color)
		if st.Colors[req.Color].Release != nil || herr == nil {
			return nil, bluegreen.Errorf(bluegreen.EREFUSED,
				"%s is live: deploying over live traffic is what blue-green avoids; deploy to %s (inactive), then switch", req.Color, req.Color.Other())
		}
		bootstrap = true
	}
	if w := st.Watch; w != nil && w.Previous == req.Color && c.now().Before(w.Until) {
		return nil, bluegreen.Errorf(bluegreen.EREFUSED,
			"%s is kept running for an instant rollback while %s is watched (until %s); deploy into it after the watch ends",
			req.Color, w.Color, w.Until.Format(time.RFC3339))
	}
	if d := st.DNSDrain; d != nil && d.Color == req.Color && c.now().Before(d.Until) {
		return nil, bluegreen.Errorf(bluegreen.EREFUSED,
			"%s still serves clients that hold its DNS answer until %s (the old TTL after the last switch); deploy into it after that",
			req.Color, d.Until.Format(time.RFC3339))
	}
	if req.Ref == "" {
		req.Ref = st.Colors[req.Color].Branch
	}
	if err := dc.ValidateRef(req.Ref); err != nil {
		return nil, err
	}
	release, err := c.Acquire(ctx, req.Actor, fmt.Sprintf("deploy %s ref %s", req.Color, req.Ref))
	if err != nil {
		return nil, err
	}
	d := &bluegreen.Deployment{ID: newDeploymentID(c.now()), Color: req.Color, Ref: req.Ref, Actor: req.Actor}
	c.transition(d.Start(c.now()))
	r := &deployRun{c: c, dc: dc, d: d, start: c.now(), release: release, progress: progress, bootstrap: bootstrap,
		reason: req.Reason}
	c.logs.start(d.ID)
	if bootstrap {
		r.say(bluegreen.StepStart, fmt.Sprintf("%s is live but runs nothing deployed by bluegreen yet: this first deploy goes into it", req.Color))
	}
	return r, nil
}

func newDeploymentID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
