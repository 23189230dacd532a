package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/driver/process"
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

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole blue-green cycle on this machine with the built-in sample app",
		Long: "demo makes a temporary git repository holding the sample app (three releases: v1, v2 and a bad v3),\n" +
			"runs bluegreen serve on a temporary state directory, and tells the story with a load client running:\n" +
			"deploy blue, deploy and verify green, switch under load, sync, deploy the bad release, switch to it\n" +
			"and watch bluegreen roll it back by itself, sync again. It needs git on PATH (exit 2 without it).\n" +
			"It exits 1 if any request failed, the bad release's own 500s apart (the watch is there to catch those).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Switches < 1 || o.Connections < 1 || o.Rate < 0 {
				return usageErrorf("--switches and --connections must be at least 1 and --rate at least 0")
			}
			out, summary := g.stdout, (*demoSummary)(nil)
			if g.json() {
				out, summary = io.Discard, &demoSummary{}
			}
			err := runDemo(cmd.Context(), out, o, summary)
			if summary != nil && summary.Requests > 0 {
				if werr := writeJSON(g.stdout, summary); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	cmd.Flags().IntVar(&o.Switches, "switches", 9, "how many switches to make under load (an odd number ends on green, the new release)")
	cmd.Flags().IntVar(&o.Connections, "connections", 16, "concurrent client connections of the load")
	cmd.Flags().IntVar(&o.Rate, "rate", 2000, "requests per second of the load, over all connections; 0: as fast as possible")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "keep the temporary directory (repository, state, app logs); the apps are stopped anyway")
	return cmd
}

// demoOptions are the demo's flags.
type demoOptions struct {
	Switches, Connections, Rate int
	Keep                        bool
}

// demoSummary is the demo's result for --output json.
type demoSummary struct {
	// Dir is the temporary directory (removed at the end unless --keep).
	Dir      string `json:"dir"`
	Requests int64  `json:"requests"`
	// Failed counts the requests that failed for any reason other than the
	// bad release's own 500s: the figure that must be 0.
	Failed int64 `json:"failed"`
	// Failures counts every failed request by kind, the bad release's 500s
	// included.
	Failures map[string]int64 `json:"failures,omitempty"`
	// BadRelease500s counts the 500s the bad release answered itself.
	BadRelease500s int64            `json:"bad_release_500s"`
	ByColor        map[string]int64 `json:"by_color"`
	Deployments    []demoDeployment `json:"deployments"`
	// Switches are every switch the demo asked for, in order; the last one
	// is the switch to the bad release.
	Switches          []bluegreen.SwitchResult `json:"switches"`
	AutomaticRollback *demoRollback            `json:"automatic_rollback"`
	LatencyP99        string                   `json:"latency_p99"`
	FinalColor        bluegreen.Color          `json:"final_color"`
	// FinalSHA is the commit both colors run at the end.
	FinalSHA string `json:"final_sha"`
	// History counts the recorded events by action.
	History map[string]int `json:"history"`
}

// demoDeployment is one deployment the demo made.
type demoDeployment struct {
	ID         string          `json:"id"`
	Color      bluegreen.Color `json:"color"`
	Ref        string          `json:"ref"`
	SHA        string          `json:"sha"`
	Sync       bool            `json:"sync,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Verified   bool            `json:"verified"`
}

// demoRollback is the watch's automatic rollback of the bad release, from
// the history's rollback event.
type demoRollback struct {
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
	opts   demoOptions
	out    io.Writer
	dir    string
	step   int
	ep     endpoints
	client *api.Client
	load   *loadgen.Runner

	shas     map[string]string // branch → commit
	deploys  []demoDeployment
	switches []bluegreen.SwitchResult
}

func (d *demo) p(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

// story prints the next numbered step.
func (d *demo) story(format string, args ...any) {
	d.step++
	d.p("%d. "+format, append([]any{d.step}, args...)...)
}

// runDemo tells the story on out; when summary is not nil it is filled too.
// Whatever happens, the apps it started are stopped and serve is shut down
// before it returns; the temporary directory is removed unless o.Keep.
func runDemo(ctx context.Context, out io.Writer, o demoOptions, summary *demoSummary) (err error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return usageErrorf("demo needs git on PATH to make the sample app's repository (install git and run it again): %v", err)
	}
	d := &demo{opts: o, out: out}
	d.p("bluegreen demo: the whole blue-green cycle of the built-in sample app on this machine: deploy, verify,")
	d.p("switch under load, a bad release rolled back automatically, sync.\n")

	if d.dir, err = os.MkdirTemp("", "bluegreen-demo-"); err != nil {
		return fmt.Errorf("making the demo's directory: %w", err)
	}
	if !o.Keep {
		defer os.RemoveAll(d.dir)
	}
	stateDir := filepath.Join(d.dir, "state")
	// The apps run under detached supervisors that outlive serve by design:
	// stop them (after serve, registered first so it runs last).
	defer func() {
		if serr := stopDemoApps(stateDir); serr != nil && err == nil {
			err = serr
		}
	}()

	if err := d.makeRepo(ctx, gitPath); err != nil {
		return err
	}
	cfg, err := d.writeConfig(stateDir)
	if err != nil {
		return err
	}
	stopServe, err := d.startServe(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stopServe(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := d.tell(ctx, summary); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("demo interrupted (the apps and serve are stopped): %w", err)
		}
		return err
	}
	return nil
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
		if ports[i], err = freeListenPort(given); err != nil {
			return nil, fmt.Errorf("finding a free port for the demo's apps: %w", err)
		}
		given[ports[i]] = true
	}
	// Paths are quoted (a YAML double-quoted scalar accepts Go's escapes)
	// and the binary reaches the run command through the environment only.
	text := fmt.Sprintf(`# written by bluegreen demo
listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
state: %s
router:
  drain_timeout: 5s
watch: {window: %s, interval: 250ms, min_requests: %d, max_error_ratio: %g}
app:
  repo: %s
  run: 'exec "$APP_BIN" sample-app --version "$(cat VERSION)" --fail-every "$(cat FAIL_EVERY 2>/dev/null || echo 0)"'
  build:
    - 'echo "building $(cat VERSION) ($BLUEGREEN_SHA) for $BLUEGREEN_COLOR"'
  env:
    APP_BIN: %s
  checks:
    - name: home
      http: {path: /, json: {field: app, equals: sample}}
      timeout: 2s
  start_timeout: 15s
  stop_grace: 2s
blue:
  branch: production
  port: %d
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
green:
  branch: green
  port: %d
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
`, strconv.Quote(stateDir), demoWatchWindow, demoMinRequests, demoMaxRatio,
		strconv.Quote(filepath.Join(d.dir, "app")), strconv.Quote(bin), ports[0], ports[1])
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

// startServe runs serve in this process and returns how to stop it.
func (d *demo) startServe(ctx context.Context, cfg *config.Config) (stop func() error, err error) {
	logFile, err := os.OpenFile(filepath.Join(d.dir, "serve.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	readyCh := make(chan endpoints, 1)
	serveDone := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(logFile, nil))
	go func() { serveDone <- serve(srvCtx, cfg, logger, func(e endpoints) { readyCh <- e }, false) }()
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

// tell runs the story once serve is up.
func (d *demo) tell(ctx context.Context, summary *demoSummary) error {
	live := d.ep.Live
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Color: live}, false,
		fmt.Sprintf("Deploy %s (branch production, v1): the very first deploy may go into the live color, nothing serves there yet.", live)); err != nil {
		return err
	}

	public := "http://" + d.ep.Public + "/"
	load, err := loadgen.Start(ctx, loadgen.Options{URL: public, Connections: d.opts.Connections, Rate: d.opts.Rate})
	if err != nil {
		return err
	}
	d.load = load
	defer load.Stop()
	rate := "as fast as it can"
	if d.opts.Rate > 0 {
		rate = fmt.Sprintf("%d requests/s", d.opts.Rate)
	}
	d.story("A load client starts: %d kept-alive connections, %s to %s; it counts every failed request.",
		d.opts.Connections, rate, public)
	if err := d.waitServed(ctx, live, 200); err != nil {
		return err
	}

	next := live.Other()
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Color: next}, true,
		fmt.Sprintf("Deploy %s (branch green, v2) into the inactive color, under load:", next)); err != nil {
		return err
	}
	if err := d.switchUnderLoad(ctx); err != nil {
		return err
	}

	kept, err := d.client.Color(ctx)
	if err != nil {
		return err
	}
	if err := d.waitWatchPassed(ctx, kept); err != nil {
		return err
	}
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Sync: true}, false,
		fmt.Sprintf("Sync: %s gets %s's exact commit, ready for the next round.", kept.Other(), kept)); err != nil {
		return err
	}

	bad := kept.Other()
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Color: bad, Ref: demoBadRef}, false,
		fmt.Sprintf("A bad release: deploy %s (v3) into %s. Its health check passes, and so does its check (one request to /).",
			demoBadRef, bad)); err != nil {
		return err
	}
	rb, window, err := d.badRelease(ctx, bad)
	if err != nil {
		return err
	}
	if _, err := d.deploy(ctx, bluegreen.DeployRequest{Sync: true}, false,
		fmt.Sprintf("Sync again: %s gets %s's commit back, so both colors run the good release.", bad, kept)); err != nil {
		return err
	}
	if err := d.waitServed(ctx, kept, 200); err != nil {
		return err
	}
	return d.report(ctx, rb, window, summary)
}

// deploy runs one deployment and prints it: every step when steps is set,
// else one line.
func (d *demo) deploy(ctx context.Context, req bluegreen.DeployRequest, steps bool, title string) (bluegreen.Deployment, error) {
	d.story("%s", title)
	req.Reason = "demo"
	var progress func(bluegreen.Progress)
	if steps {
		progress = func(p bluegreen.Progress) {
			// The verification is summed up below; "done" is the last line.
			if p.Line != "" && p.Step != "done" && p.Step != "verify" {
				d.p("     [%5.1fs] %-12s %s", p.ElapsedMS/1000, p.Step, p.Line)
			}
		}
	}
	dep, err := d.client.Deploy(ctx, req, progress)
	if err != nil {
		if req.Sync {
			return dep, fmt.Errorf("syncing the inactive color: %w", err)
		}
		return dep, fmt.Errorf("deploying %s into %s: %w", demoOr(req.Ref, "its branch"), req.Color, err)
	}
	rec := demoDeployment{ID: dep.ID, Color: dep.Color, Ref: dep.Ref, SHA: dep.SHA, Sync: req.Sync,
		DurationMS: bluegreen.Milliseconds(dep.Ended.Sub(dep.Started)), Verified: dep.Verification != nil && dep.Verification.Passed}
	d.deploys = append(d.deploys, rec)
	verdict := "no verification ran"
	if v := dep.Verification; v != nil {
		var parts []string
		for _, c := range v.Checks {
			parts = append(parts, fmt.Sprintf("%s %s in %.1f ms", c.Name, demoOK(c.OK), c.DurationMS))
		}
		verdict = fmt.Sprintf("verification %s (%s)", map[bool]string{true: "passed", false: "FAILED"}[v.Passed], strings.Join(parts, ", "))
		if steps && v.URL != "" {
			verdict += " through " + v.URL
		}
	}
	if steps {
		d.p("     %s", verdict)
		if body, err := demoGet(ctx, "http://"+d.ep.Preview+"/"); err == nil {
			d.p("     QA on the preview address: %s", body)
		}
	}
	what := dep.Ref
	if req.Sync {
		what = "the live color's commit"
	}
	d.p("     deployed %s (%s) into %s in %.1fs%s", what, short(dep.SHA), dep.Color, rec.DurationMS/1000,
		map[bool]string{true: "", false: "; " + verdict}[steps])
	if !rec.Verified {
		return dep, fmt.Errorf("the deployment into %s was not verified: %s", dep.Color, verdict)
	}
	return dep, nil
}

// switchUnderLoad makes the --switches switches, with a slow request
// drained across the first one.
func (d *demo) switchUnderLoad(ctx context.Context) error {
	live, err := d.client.Color(ctx)
	if err != nil {
		return err
	}
	d.story("%d switches under load. Each waits for the old color to drain and starts a watch that the next one", d.opts.Switches)
	d.p("   replaces; both releases are verified, so the gates let them through. Before the first switch a slow")
	d.p("   request (%.1f s) starts on %s: the switch lets it finish instead of cutting it.", float64(demoSlowMS)/1000, live)
	slow := make(chan string, 1)
	wrote := make(chan struct{})
	go func() {
		slow <- slowRequest(ctx, fmt.Sprintf("http://%s/slow?ms=%d", d.ep.Public, demoSlowMS), wrote)
	}()
	select {
	case <-wrote:
	case s := <-slow:
		return fmt.Errorf("the slow request ended before the switch: %s", s)
	case <-time.After(10 * time.Second):
		return errors.New("the slow request was not sent within 10s")
	}
	// The router forwards a request as soon as it has read it: once the
	// load has made some more round trips through it, the slow request is
	// at the app.
	if err := d.waitServed(ctx, live, 100); err != nil {
		return err
	}
	to := live.Other()
	for i := 1; i <= d.opts.Switches; i++ {
		paced := time.After(200 * time.Millisecond) // so that people can follow the story
		res, err := d.switchTo(ctx, to, fmt.Sprintf("demo switch %d", i))
		if err != nil {
			return err
		}
		if i == 1 {
			d.p("       the slow request started before the switch: %s", <-slow)
		}
		if err := d.waitServed(ctx, to, 300); err != nil {
			return err
		}
		select {
		case <-paced:
		case <-ctx.Done():
			return ctx.Err()
		}
		to = res.From
	}
	return nil
}

// switchTo switches to color and prints the figures.
func (d *demo) switchTo(ctx context.Context, to bluegreen.Color, reason string) (bluegreen.SwitchResult, error) {
	res, err := d.client.Switch(ctx, bluegreen.SwitchRequest{To: to, Reason: reason})
	if err != nil {
		return res, fmt.Errorf("switch %d to %s: %w", len(d.switches)+1, to, err)
	}
	d.switches = append(d.switches, res)
	snap := d.load.Snapshot()
	// The client's raw count: on the switch to the bad release it already
	// holds that release's own 500s, which the report puts apart; say what
	// they are rather than call them failed here.
	notOK := "0 not 2xx"
	if snap.Failed > 0 {
		notOK = fmt.Sprintf("%d not 2xx (%s)", snap.Failed, demoJoinCounts(snap.Failures))
	}
	d.p("   #%-2d %-5s → %-5s live %5.2f ms after the request; %s drained in %6.1f ms (%d in flight, %d cut)   load: %d requests, %s",
		len(d.switches), res.From, res.To, res.SwitchMS, res.From, res.Drain.DurationMS, res.Drain.InFlight, res.Drain.Cancelled,
		snap.Requests, notOK)
	return res, nil
}

// waitWatchPassed waits until color, live, has passed its watch.
func (d *demo) waitWatchPassed(ctx context.Context, color bluegreen.Color) error {
	last := d.switches[len(d.switches)-1]
	d.story("%s stays live; the watch judges it for %s from the last switch.", color, demoWatchWindow)
	var passed *bluegreen.Event
	err := demoPoll(ctx, demoWatchWindow+20*time.Second, "the end of "+string(color)+"'s watch", func() (bool, error) {
		evs, err := d.client.History(ctx, bluegreen.HistoryFilter{Action: bluegreen.ActionWatch, Limit: 20})
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			if ev.Revision >= last.Revision && ev.Color == color {
				if ev.Outcome != bluegreen.OutcomeOK {
					return false, fmt.Errorf("%s did not pass its watch: %s", color, ev.Message)
				}
				passed = &ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	d.p("   %s", passed.Message)
	return nil
}

// demoWindow is what the load client and the router counted while the bad
// release could serve: from just before the switch to it until after the
// automatic rollback had drained it.
type demoWindow struct {
	before, after   loadgen.Result
	routerBad5xx    int64 // 5xx answers of the bad color in the window, the router's own 502s left out
	badColor        bluegreen.Color
	rollbackEventID int64
}

// badRelease switches to the bad release and waits for the watch to roll it
// back by itself.
func (d *demo) badRelease(ctx context.Context, bad bluegreen.Color) (*demoRollback, demoWindow, error) {
	w := demoWindow{badColor: bad}
	d.story("Switch to %s (the bad release) under load, and let the watch judge it:", bad)
	st, err := d.client.Status(ctx)
	if err != nil {
		return nil, w, err
	}
	routerBefore := st.Traffic[bad]
	w.before = d.load.Snapshot()
	res, err := d.switchTo(ctx, bad, "demo: the bad release")
	if err != nil {
		return nil, w, err
	}

	// The watch decides by itself: wait for its rollback event, then for
	// the drain of the bad color that the rollback made.
	var rbEv, drainEv *bluegreen.Event
	err = demoPoll(ctx, demoWatchWindow+20*time.Second, "the automatic rollback of "+string(bad), func() (bool, error) {
		evs, err := d.client.History(ctx, bluegreen.HistoryFilter{Limit: 50})
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			switch {
			case ev.Revision <= res.Revision:
			case ev.Action == bluegreen.ActionRollback && ev.Details["automatic"] == true:
				rbEv = &ev
			case ev.Action == bluegreen.ActionWatch && ev.Color == bad && ev.Outcome == bluegreen.OutcomeOK:
				return false, fmt.Errorf("the bad release passed its watch: %s", ev.Message)
			}
		}
		if rbEv == nil {
			return false, nil
		}
		for _, ev := range evs {
			if ev.Action == bluegreen.ActionDrain && ev.Revision == rbEv.Revision {
				drainEv = &ev
			}
		}
		return drainEv != nil, nil
	})
	if err != nil {
		return nil, w, err
	}
	good := rbEv.Color
	// Every answer of the bad release has reached the client once the
	// drain ended; a few more round trips make sure the client counted it.
	if err := d.waitServed(ctx, good, int64(4*d.opts.Connections)); err != nil {
		return nil, w, err
	}
	w.after = d.load.Snapshot()
	if st, err = d.client.Status(ctx); err != nil {
		return nil, w, err
	}
	routerAfter := st.Traffic[bad]
	w.routerBad5xx = (routerAfter.Status5xx - routerBefore.Status5xx) - (routerAfter.UpstreamErrors - routerBefore.UpstreamErrors)
	w.rollbackEventID = rbEv.ID

	rb := &demoRollback{From: bad, To: good, Actor: rbEv.Actor, AfterMS: bluegreen.Milliseconds(rbEv.Time.Sub(res.SwappedAt))}
	var fig bluegreen.WatchFigures
	var thr struct {
		MinRequests   int64   `json:"min_requests"`
		MaxErrorRatio float64 `json:"max_error_ratio"`
	}
	if err := demoDetail(*rbEv, "figures", &fig); err != nil {
		return nil, w, err
	}
	if err := demoDetail(*rbEv, "thresholds", &thr); err != nil {
		return nil, w, err
	}
	_ = demoDetail(*rbEv, "breach", &rb.Breach)
	_ = demoDetail(*drainEv, "switch_ms", &rb.SwitchMS)
	rb.Requests, rb.Errors, rb.ErrorRatio = fig.Requests, fig.Errors, fig.ErrorRatio
	rb.MaxErrorRatio, rb.MinRequests = thr.MaxErrorRatio, thr.MinRequests
	d.p("   %.2f s after the switch the watch saw a 5xx ratio of %.1f%% (%d of %d requests), above its threshold of %.1f%%,",
		rb.AfterMS/1000, 100*rb.ErrorRatio, rb.Errors, rb.Requests, 100*rb.MaxErrorRatio)
	d.p("   and rolled back by itself: %s was live again %.2f ms later. The history says, by %q:", good, rb.SwitchMS, rb.Actor)
	d.p("     %s", rbEv.Message)
	return rb, w, nil
}

// report prints what happened and fills summary.
//
// Counting failed requests honestly: the load client counts every request
// that did not end in a 2xx, by kind. The bad release answers every 4th
// request with 500 on purpose: that is the bug the watch exists to catch,
// not a request bluegreen dropped, so those are reported apart. A failure
// is put down to the bad release only when all of these hold:
//   - its kind is "status 500": the router itself never answers 500 (it
//     answers 502 when an upstream cannot be reached, 504 for a request cut
//     at the drain deadline, 413 for a body too large), so a 500 was written
//     by an app, and the good releases never write one;
//   - it was counted in the window when the bad release could serve: between
//     the client's snapshot just before the switch to it and the one after
//     the automatic rollback's drain had ended;
//   - it is within what the router counted as 5xx answers of the bad
//     release's color in that window, the 502s it made itself left out.
//
// Every other failure (a connection refused, reset or cut, a timeout, a 502,
// a 504, a 500 outside the window) is a request bluegreen failed: it is
// counted in "failed", and the demo exits 1.
func (d *demo) report(ctx context.Context, rb *demoRollback, w demoWindow, summary *demoSummary) error {
	final := d.load.Stop()
	inWindow := w.after.Failures["status 500"] - w.before.Failures["status 500"]
	badOwn := min(inWindow, max(w.routerBad5xx, 0))
	failed := final.Failed - badOwn

	color, err := d.client.Color(ctx)
	if err != nil {
		return err
	}
	st, err := d.client.Status(ctx)
	if err != nil {
		return err
	}
	evs, err := d.client.History(ctx, bluegreen.HistoryFilter{Limit: 10000})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[string(e.Action)]++
	}
	var switchMS []float64
	for _, s := range d.switches {
		switchMS = append(switchMS, s.SwitchMS)
	}
	slices.Sort(switchMS)
	finalSHA := ""
	if r := st.State.Colors[color].Release; r != nil {
		finalSHA = r.SHA
	}
	same := "the other color runs another commit"
	if r := st.State.Colors[color.Other()].Release; r != nil && r.SHA == finalSHA {
		same = color.Other().String() + " runs the same commit"
	}

	d.p("")
	d.story("What happened:")
	d.p("   requests   %d in %s (%.0f/s); by color: %s", final.Requests, final.Elapsed.Round(time.Millisecond), final.RPS(), joinColors(final.ByColor))
	d.p("   latency    p50 %s, p99 %s, max %s (the load client's, through the router)", demoMS(final.Latency.P50),
		demoMS(final.Latency.P99), demoMS(final.Latency.Max))
	var deps []string
	for _, dp := range d.deploys {
		what := dp.Ref
		if dp.Sync {
			what = "sync"
		}
		deps = append(deps, fmt.Sprintf("%s %s (%.1fs)", dp.Color, what, dp.DurationMS/1000))
	}
	d.p("   deploys    %d, all verified: %s", len(d.deploys), strings.Join(deps, ", "))
	d.p("   switches   %d under load and 1 to the bad release; live after the API got them: median %.2f ms, max %.2f ms",
		d.opts.Switches, switchMS[len(switchMS)/2], switchMS[len(switchMS)-1])
	d.p("   rollback   automatic, %.2f s after the switch to the bad release: 5xx ratio %.1f%% of %d requests seen, threshold %.1f%%",
		rb.AfterMS/1000, 100*rb.ErrorRatio, rb.Requests, 100*rb.MaxErrorRatio)
	var hist []string
	for _, a := range slices.Sorted(maps.Keys(counts)) {
		hist = append(hist, fmt.Sprintf("%s %d", a, counts[a]))
	}
	d.p("   history    %d events recorded: %s", len(evs), strings.Join(hist, ", "))
	d.p("   live       /deployment/color/ says %s, running %s; %s", color, short(finalSHA), same)
	if final.Aborted > 0 {
		d.p("   aborted    %d requests were still in flight when the load client stopped (neither ok nor failed)", final.Aborted)
	}
	if badOwn > 0 {
		d.p("   bad 500s   %d requests answered 500 by the bad release itself, which is what the watch caught", badOwn)
	}
	if failed > 0 {
		other := map[string]int64{}
		for k, n := range final.Failures {
			other[k] = n
		}
		other["status 500"] -= badOwn
		d.p("   FAILED     %s; first errors: %s", demoJoinCounts(other), strings.Join(final.FirstErrors, "; "))
	}
	d.p("\n%d failed", failed)

	if summary != nil {
		*summary = demoSummary{Dir: d.dir, Requests: final.Requests, Failed: failed, Failures: final.Failures,
			BadRelease500s: badOwn, ByColor: final.ByColor, Deployments: d.deploys, Switches: d.switches,
			AutomaticRollback: rb, LatencyP99: final.Latency.P99.String(), FinalColor: color, FinalSHA: finalSHA,
			History: counts}
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed (apart from the bad release's own %d 500s)", failed, badOwn)
	}
	return nil
}

// waitServed waits until color has answered at least n more requests of the
// load, so that each step happens under real traffic.
func (d *demo) waitServed(ctx context.Context, color bluegreen.Color, n int64) error {
	start := d.load.Snapshot().ByColor[string(color)]
	return demoPoll(ctx, 15*time.Second, fmt.Sprintf("%d requests answered by %s", n, color), func() (bool, error) {
		return d.load.Snapshot().ByColor[string(color)] >= start+n, nil
	})
}

// demoPoll calls cond every 10 ms until it reports true or an error, ctx ends,
// or limit has passed.
func demoPoll(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stopDemoApps stops every app a demo's serve started under stateDir,
// through their supervisors (which outlive serve by design).
func stopDemoApps(stateDir string) error {
	files, _ := filepath.Glob(filepath.Join(stateDir, "run", "*", "*", "supervisor.json"))
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	drv := process.New(bin, nil)
	var errs []error
	for _, f := range files {
		h, err := drv.Adopt(filepath.Dir(f))
		if err != nil {
			continue // already stopped
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := h.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the demo's %s app: %w", h.Color(), err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// demoDetail decodes ev.Details[key] (JSON from the API) into v.
func demoDetail(ev bluegreen.Event, key string, v any) error {
	raw, ok := ev.Details[key]
	if !ok {
		return fmt.Errorf("the %s event %d has no %q detail", ev.Action, ev.ID, key)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the %s event %d's %q detail: %w", ev.Action, ev.ID, key, err)
	}
	return nil
}

// demoMS prints a latency in milliseconds, rounded for people.
func demoMS(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", bluegreen.Milliseconds(d))
}

func demoOK(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

func demoOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func joinColors(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(no color header)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

func demoJoinCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// demoGet GETs url and returns its body on one line.
func demoGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return strings.TrimSpace(string(body)), err
}

// slowRequest GETs url and says how it ended; wrote is closed once the
// whole request has been written.
func slowRequest(ctx context.Context, url string, wrote chan<- struct{}) string {
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "failed: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%s after %s, answered by %s: %s", resp.Status, time.Since(start).Round(time.Millisecond),
		resp.Header.Get("X-Bluegreen-Color"), strings.TrimSpace(string(body)))
}
