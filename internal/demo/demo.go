// Package demo is `bluegreen demo`: the whole blue-green cycle of the
// built-in sample app on this machine, told step by step under load. It
// makes a temporary git repository holding the sample app (v1, v2 and a bad
// v3), runs serve in-process on a temporary state directory (through the
// caller's ServeFunc), and drives it through the API: deploy, verify,
// switch under load, sync, the bad release rolled back by the watch, sync
// again; then it reports every request that failed.
//
// The package also holds what the demo shares with the end-to-end tests:
// the sample app's handler (SampleApp), the configuration builder
// (AppConfig), free ports for apps (FreePort) and stopping the apps a
// serve left running (StopApps).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/daemon"
	"github.com/bluegreen/bluegreen/loadgen"
)

// The demo's fixed settings. The watch is short so that the story fits in
// half a minute; the bad release fails often enough to breach it at once.
const (
	demoWatchWindow = 5 * time.Second
	demoMinRequests = 50
	demoMaxRatio    = 0.05
	demoFailEvery   = 4
	demoSlowMS      = 1500
	demoBadRef      = "bad-release"
)

// Options are how a demo runs: the `demo` verb's flags, and the serve to
// run in-process.
type Options struct {
	// Switches is how many switches to make under load (at least 1; an odd
	// number ends on green, the new release).
	Switches int
	// Connections is the load's number of concurrent client connections
	// (at least 1).
	Connections int
	// Rate is the load's requests per second over all connections; 0: as
	// fast as possible.
	Rate int
	// Keep keeps the temporary directory (repository, state, app logs);
	// the apps are stopped anyway.
	Keep bool
	// Version is the version the in-process serve reports (the binary's).
	Version string
}

// Endpoints are the addresses the demo's serve listens on, and its API
// token.
type Endpoints struct {
	Public, Preview, API string          // host:port of each listener
	Token                string          // the token to call the API with
	Live                 bluegreen.Color // the live color when serve started
}

// Summary is what a demo did: the `demo` verb's result for --output json.
type Summary struct {
	// Dir is the temporary directory (removed at the end unless Keep).
	Dir string `json:"dir"`
	// Requests counts every request of the load client.
	Requests int64 `json:"requests"`
	// Failed counts the requests that failed for any reason other than the
	// bad release's own 500s: the figure that must be 0.
	Failed int64 `json:"failed"`
	// Failures counts every failed request by kind, the bad release's 500s
	// included.
	Failures map[string]int64 `json:"failures,omitempty"`
	// BadRelease500s counts the 500s the bad release answered itself.
	BadRelease500s int64 `json:"bad_release_500s"`
	// ByColor counts the answered requests by the color that answered.
	ByColor map[string]int64 `json:"by_color"`
	// Deployments are the demo's deployments, in order.
	Deployments []Deployment `json:"deployments"`
	// Switches are every switch the demo asked for, in order; the last one
	// is the switch to the bad release.
	Switches []bluegreen.SwitchResult `json:"switches"`
	// AutomaticRollback is the watch's rollback of the bad release.
	AutomaticRollback *Rollback `json:"automatic_rollback"`
	// LatencyP99 is the load client's 99th percentile, through the router.
	LatencyP99 string `json:"latency_p99"`
	// FinalColor is the live color at the end.
	FinalColor bluegreen.Color `json:"final_color"`
	// FinalSHA is the commit both colors run at the end.
	FinalSHA string `json:"final_sha"`
	// History counts the recorded events by action.
	History map[string]int `json:"history"`
}

// Deployment is one deployment the demo made (see Summary): its id, color,
// ref and commit, whether it was a sync, how long it took and whether it
// was verified.
type Deployment struct {
	ID         string          `json:"id"`
	Color      bluegreen.Color `json:"color"`
	Ref        string          `json:"ref"`
	SHA        string          `json:"sha"`
	Sync       bool            `json:"sync,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Verified   bool            `json:"verified"`
}

// Rollback is the watch's automatic rollback of the bad release, from
// the history's rollback event: the colors, the figures the watch judged
// (requests, 5xx errors, their ratio) against its thresholds, the breach
// in words and who decided.
type Rollback struct {
	From bluegreen.Color `json:"from"`
	To   bluegreen.Color `json:"to"`
	// AfterMS is the time from the switch to the bad release to the
	// watch's decision.
	AfterMS       float64 `json:"after_ms"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors_5xx"`
	ErrorRatio    float64 `json:"error_ratio"`
	MaxErrorRatio float64 `json:"max_error_ratio"`
	MinRequests   int64   `json:"min_requests"`
	Breach        string  `json:"breach"`
	Actor         string  `json:"actor"`
	// SwitchMS is how long after the decision the good color was live again.
	SwitchMS float64 `json:"switch_ms"`
}

// demo is one run of the story.
type demo struct {
	opts   Options
	out    io.Writer
	dir    string
	step   int
	ep     Endpoints
	client *api.Client
	load   *loadgen.Runner

	shas     map[string]string // branch → commit
	deploys  []Deployment
	switches []bluegreen.SwitchResult
}

func (d *demo) p(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

// story prints the next numbered step.
func (d *demo) story(format string, args ...any) {
	d.step++
	d.p("%d. "+format, append([]any{d.step}, args...)...)
}

// Run tells the story on out and returns what happened. It must run in the
// bluegreen binary: the apps run this very executable's sample-app verb.
// Whatever happens, the apps it started are stopped and serve is shut down
// before it returns; the temporary directory is removed unless o.Keep.
//
// The Summary is filled once the story has reached its report (its
// Requests is then above 0); the error is an EINVALID *bluegreen.Error when
// git is not on PATH or o is out of range, the first failure otherwise, and
// says how many requests failed when any did (the bad release's own 500s
// apart). ctx ending stops the story; Run then returns ctx's error, wrapped.
func Run(ctx context.Context, out io.Writer, o Options) (sum Summary, err error) {
	if o.Switches < 1 || o.Connections < 1 || o.Rate < 0 {
		return sum, bluegreen.Errorf(bluegreen.EINVALID, "demo: Switches and Connections must be at least 1, Rate at least 0")
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return sum, bluegreen.Errorf(bluegreen.EINVALID, "demo needs git on PATH to make the sample app's repository (install git and run it again): %v", err)
	}
	d := &demo{opts: o, out: out}
	d.p("bluegreen demo: the whole blue-green cycle of the built-in sample app on this machine: deploy, verify,")
	d.p("switch under load, a bad release rolled back automatically, sync.\n")

	if d.dir, err = os.MkdirTemp("", "bluegreen-demo-"); err != nil {
		return sum, fmt.Errorf("making the demo's directory: %w", err)
	}
	if !o.Keep {
		defer os.RemoveAll(d.dir)
	}
	stateDir := filepath.Join(d.dir, "state")
	// The apps run under detached supervisors that outlive serve by design:
	// stop them (after serve, registered first so it runs last).
	defer func() {
		bin, berr := os.Executable()
		if berr == nil {
			berr = StopApps(bin, stateDir)
		}
		if berr != nil && err == nil {
			err = berr
		}
	}()

	if err := d.makeRepo(ctx, gitPath); err != nil {
		return sum, err
	}
	cfg, err := d.writeConfig(stateDir)
	if err != nil {
		return sum, err
	}
	stopServe, err := d.startServe(ctx, cfg)
	if err != nil {
		return sum, err
	}
	defer func() {
		if serr := stopServe(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := d.tell(ctx, &sum); err != nil {
		if ctx.Err() != nil {
			return sum, fmt.Errorf("demo interrupted (the apps and serve are stopped): %w", err)
		}
		return sum, err
	}
	return sum, nil
}

// makeRepo makes the sample app's git repository: production (v1), green
// (v2) and the bad release (v3, failing every demoFailEvery-th request).
func (d *demo) makeRepo(ctx context.Context, gitPath string) error {
	repo := filepath.Join(d.dir, "app")
	if err := os.Mkdir(repo, 0o755); err != nil {
		return err
	}
	// git runs with an argv, never a shell, isolated from the user's and
	// the system's git configuration (hooks, signing...).
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, gitPath, append([]string{"-c", "user.name=bluegreen demo",
			"-c", "user.email=demo@bluegreen.invalid", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=" + os.DevNull,
			"-c", "init.defaultBranch=production"}, args...)...)
		cmd.Dir = repo
		cmd.Env = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH"), "LANG=C"}
		b, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(b)))
		}
		return strings.TrimSpace(string(b)), nil
	}
	commit := func(branch, from, version, failEvery, msg string) (string, error) {
		steps := [][]string{{"checkout", "-q", "-b", branch, from}}
		if from == "" {
			steps = [][]string{{"init", "-q"}}
		}
		for _, s := range steps {
			if _, err := git(s...); err != nil {
				return "", err
			}
		}
		if err := os.WriteFile(filepath.Join(repo, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
			return "", err
		}
		if failEvery != "" {
			if err := os.WriteFile(filepath.Join(repo, "FAIL_EVERY"), []byte(failEvery+"\n"), 0o644); err != nil {
				return "", err
			}
		}
		for _, s := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", msg}} {
			if _, err := git(s...); err != nil {
				return "", err
			}
		}
		return git("rev-parse", "HEAD")
	}
	d.shas = map[string]string{}
	for _, c := range []struct{ branch, from, version, failEvery, msg string }{
		{"production", "", "v1", "", "v1: the release in production"},
		{"green", "production", "v2", "", "v2: the next release"},
		{demoBadRef, "green", "v3", strconv.Itoa(demoFailEvery), "v3: a bad release (every 4th request fails)"},
	} {
		sha, err := commit(c.branch, c.from, c.version, c.failEvery, c.msg)
		if err != nil {
			return fmt.Errorf("making the sample app's repository: %w", err)
		}
		d.shas[c.branch] = sha
	}
	if _, err := git("checkout", "-q", "production"); err != nil {
		return err
	}
	d.story("The sample app's source: a git repository with three releases (working directory %s).", d.dir)
	d.p("     production    v1  %s", short(d.shas["production"]))
	d.p("     green         v2  %s", short(d.shas["green"]))
	d.p("     %-12s  v3  %s  FAIL_EVERY=%d: every %dth request to / answers 500, /healthz passes",
		demoBadRef, short(d.shas[demoBadRef]), demoFailEvery, demoFailEvery)
	return nil
}

// writeConfig writes and parses the demo's configuration: both colors run
// this very binary as the sample app, on free ports.
func (d *demo) writeConfig(stateDir string) (*config.Config, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the bluegreen binary to run as the sample app: %w", err)
	}
	var ports [2]int
	given := map[int]bool{}
	for i := range ports {
		if ports[i], err = FreePort(given); err != nil {
			return nil, fmt.Errorf("finding a free port for the demo's apps: %w", err)
		}
		given[ports[i]] = true
	}
	// Paths are quoted (a YAML double-quoted scalar accepts Go's escapes)
	// and the binary reaches the run command through the environment only.
	text := AppConfig{
		Comment: "written by bluegreen demo",
		Top: fmt.Sprintf(`state: %s
router:
  drain_timeout: 5s
watch: {window: %s, interval: 250ms, min_requests: %d, max_error_ratio: %g}`,
			strconv.Quote(stateDir), demoWatchWindow, demoMinRequests, demoMaxRatio),
		Repo: filepath.Join(d.dir, "app"),
		App: fmt.Sprintf(`  run: 'exec "$APP_BIN" sample-app --version "$(cat VERSION)" --fail-every "$(cat FAIL_EVERY 2>/dev/null || echo 0)"'
  build:
    - 'echo "building $(cat VERSION) ($BLUEGREEN_SHA) for $BLUEGREEN_COLOR"'
  env:
    APP_BIN: %s
  checks:
    - name: home
      http: {path: /, json: {field: app, equals: sample}}
      timeout: 2s
  start_timeout: 15s
  stop_grace: 2s`, strconv.Quote(bin)),
		BluePort: ports[0], GreenPort: ports[1],
	}.YAML()
	file := filepath.Join(d.dir, "bluegreen.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Parse(file, []byte(text))
	if err != nil {
		return nil, fmt.Errorf("the demo's configuration: %w", err)
	}
	return cfg, nil
}

// runDaemon runs a daemon for cfg until ctx ends, and closes it.
func runDaemon(ctx context.Context, cfg *config.Config, logger *slog.Logger, o daemon.Options) error {
	d, err := daemon.New(ctx, cfg, logger, o)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Run(ctx)
}

// startServe runs serve (a daemon.Daemon) in this process and returns how
// to stop it.
func (d *demo) startServe(ctx context.Context, cfg *config.Config) (stop func() error, err error) {
	logFile, err := os.OpenFile(filepath.Join(d.dir, "serve.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	readyCh := make(chan Endpoints, 1)
	serveDone := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(logFile, nil))
	ready := func(e daemon.Endpoints) {
		readyCh <- Endpoints{Public: e.Public, Preview: e.Preview, API: e.API, Token: e.Token, Live: e.Live}
	}
	go func() {
		serveDone <- runDaemon(srvCtx, cfg, logger, daemon.Options{Ready: ready, Version: d.opts.Version})
	}()
	stop = func() error {
		cancel()
		err := <-serveDone
		logFile.Close()
		if err != nil {
			return fmt.Errorf("bluegreen serve: %w", err)
		}
		return nil
	}
	select {
	case d.ep = <-readyCh:
	case err := <-serveDone:
		cancel()
		logFile.Close()
		return nil, fmt.Errorf("bluegreen serve did not start: %w", err)
	case <-time.After(30 * time.Second):
		_ = stop()
		return nil, errors.New("bluegreen serve did not start within 30s")
	}
	d.client = api.NewClient(d.ep.API, d.ep.Token, "demo")
	d.story("bluegreen serve is up: public http://%s, preview http://%s, api http://%s; %s is live.",
		d.ep.Public, d.ep.Preview, d.ep.API, d.ep.Live)
	d.p("   Each color's app is this binary's sample-app under its own supervisor (blue on port %d, green on %d).",
		cfg.Colors[bluegreen.Blue].Ports[0], cfg.Colors[bluegreen.Green].Ports[0])
	d.p("   Check: GET / answers JSON with app = \"sample\". Watch: %s after every switch; at most %.0f%% 5xx once %d",
		demoWatchWindow, 100*demoMaxRatio, demoMinRequests)
	d.p("   requests were answered, else bluegreen switches back by itself.")
	return stop, nil
}
