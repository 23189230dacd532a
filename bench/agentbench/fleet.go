package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
	"github.com/bluegreen/bluegreen/driver/process"
)

// fleet is one serve whose two colors run on n hosts each, every host an
// agent in a directory of its own with its app on a loopback port of its
// own: what separate machines would be.
type fleet struct {
	name        string // "3 hosts, all at once"
	n           int    // hosts per color
	maxParallel int    // app.max_parallel; 0: unset (all at once)
	dir         string // config, state and every process's logs
	bin         string
	client      *api.Client
	serve       *proc
	agents      []*proc
	hosts       []*host
}

// host is one host of a fleet.
type host struct {
	name, color string
	port        int
	dir         string // the agent's directory
}

// mode says how a fleet deploys, for the report.
func (f *fleet) mode() string {
	if f.maxParallel == 0 {
		return "all at once"
	}
	return fmt.Sprintf("max_parallel: %d", f.maxParallel)
}

// serveInfo is what `bluegreen -o json serve` prints once it serves.
type serveInfo struct {
	API       string `json:"api"`
	TokenFile string `json:"token_file"`
}

// startFleet starts a serve with n hosts per color (blue app-1..n, green
// app-n+1..2n) deployed from repo, creates each host's agent token and
// starts its agent, and returns once every agent has reported. The fleet
// is returned also on error, for the caller to stop what was started.
func startFleet(ctx context.Context, o options, dir, repo string, given ports, n, maxParallel int) (*fleet, error) {
	f := &fleet{n: n, maxParallel: maxParallel, dir: dir, bin: o.bin}
	f.name = fmt.Sprintf("%d hosts, %s", n, f.mode())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	hostsOf := map[bluegreen.Color][]string{}
	for i := range 2 * n {
		col := bluegreen.Blue
		if i >= n {
			col = bluegreen.Green
		}
		port, err := given.next()
		if err != nil {
			return f, err
		}
		h := &host{name: fmt.Sprintf("app-%d", i+1), color: string(col), port: port, dir: filepath.Join(dir, fmt.Sprintf("agent-%d", i+1))}
		f.hosts = append(f.hosts, h)
		hostsOf[col] = append(hostsOf[col], fmt.Sprintf("{name: %s, address: '127.0.0.1:%d'}", h.name, h.port))
	}
	cfg := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(cfg, []byte(fleetConfig(o, dir, repo, maxParallel, hostsOf)), 0o644); err != nil {
		return f, err
	}
	var err error
	if f.serve, err = startProc(dir, "serve", o.bin, "-o", "json", "serve", "--config", cfg); err != nil {
		return f, err
	}
	var info serveInfo
	if err := f.serve.readJSON(ctx, 60*time.Second, &info); err != nil {
		return f, err
	}
	token, err := os.ReadFile(info.TokenFile)
	if err != nil {
		return f, fmt.Errorf("reading serve's token: %w", err)
	}
	info.API = strings.TrimPrefix(info.API, "http://")
	f.client = api.NewClient(info.API, strings.TrimSpace(string(token)), "agentbench")
	for _, h := range f.hosts {
		nt, err := f.client.CreateToken(ctx, api.TokenRequest{Name: "agent-" + h.name, Role: bluegreen.RoleAgent, Host: h.name})
		if err != nil {
			return f, fmt.Errorf("creating %s's agent token: %w", h.name, err)
		}
		tokenFile := filepath.Join(dir, h.name+".token")
		if err := os.WriteFile(tokenFile, []byte(nt.Secret+"\n"), 0o600); err != nil {
			return f, err
		}
		a, err := startProc(dir, "agent-"+h.name, o.bin, "agent", "--server", info.API, "--token-file", tokenFile,
			"--host", h.name, "--dir", h.dir, "--interval", o.interval.String())
		if err != nil {
			return f, err
		}
		f.agents = append(f.agents, a)
	}
	return f, f.waitAgents(ctx)
}

// fleetConfig is a fleet's configuration: listeners on ports the kernel
// picks, the sample app built by o.build and run on each host's $PORT,
// max_parallel when not 0, the post-switch watch off.
func fleetConfig(o options, dir, repo string, maxParallel int, hostsOf map[bluegreen.Color][]string) string {
	par := ""
	if maxParallel > 0 {
		par = fmt.Sprintf("  max_parallel: %d\n", maxParallel)
	}
	color := func(c bluegreen.Color, branch string) string {
		return fmt.Sprintf("%s:\n  branch: %s\n  hosts: [%s]\n  health: {path: /healthz, interval: 1s, timeout: 500ms}\n",
			c, branch, strings.Join(hostsOf[c], ", "))
	}
	return fmt.Sprintf(`listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
state: %s
watch: {enabled: false}
app:
  repo: %s
  run: 'exec "$APP_BIN" sample-app --version "$(cat VERSION)"'
  build:
    - %s
  env:
    APP_BIN: %s
  start_timeout: 30s
  stop_grace: 5s
%s`, quote(filepath.Join(dir, "state")), quote(repo), quote(o.build), quote(o.bin), par) +
		color(bluegreen.Blue, "production") + color(bluegreen.Green, "green")
}

// quote is s as a single-quoted YAML scalar.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// waitAgents waits until serve has a report from every host's agent.
func (f *fleet) waitAgents(ctx context.Context) error {
	var missing []string
	err := benchkit.Poll(ctx, 60*time.Second, func() bool {
		st, err := f.client.Status(ctx)
		if err != nil {
			missing = []string{err.Error()}
			return false
		}
		seen := map[string]bool{}
		for _, cs := range st.State.Colors {
			for _, h := range cs.Health.Hosts {
				seen[h.Name] = h.Agent != nil
			}
		}
		missing = missing[:0]
		for _, h := range f.hosts {
			if !seen[h.name] {
				missing = append(missing, h.name)
			}
		}
		return len(missing) == 0
	})
	if err != nil {
		return fmt.Errorf("%s: waiting for every agent's first report (missing: %s; logs in %s): %w", f.name, strings.Join(missing, ", "), f.dir, err)
	}
	return nil
}

// deployment is one deploy as the benchmark saw it.
type deployment struct {
	took  time.Duration   // the API call, from the request to the answer
	hosts []time.Duration // each host's own time, from its order to its pass
	waits []time.Duration // each host's wait from its order to its agent's first report of the work
}

// deploy deploys ref (empty: the color's branch) into color and returns
// how long it took. A host's wait for its agent is read from the progress
// lines ("app-4: ordered to run ..." to the next "app-4: ..." line), which
// serve writes as it reads the agents' reports, every 100ms.
func (f *fleet) deploy(ctx context.Context, color bluegreen.Color, ref string) (deployment, error) {
	var dep deployment
	ordered := map[string]float64{}
	progress := func(p bluegreen.Progress) {
		host, rest, ok := strings.Cut(p.Line, ": ")
		if !ok {
			return
		}
		if strings.HasPrefix(rest, "ordered to run ") {
			ordered[host] = p.ElapsedMS
		} else if at, ok := ordered[host]; ok {
			dep.waits = append(dep.waits, time.Duration((p.ElapsedMS-at)*float64(time.Millisecond)))
			delete(ordered, host)
		}
	}
	start := time.Now()
	d, err := f.client.Deploy(ctx, bluegreen.DeployRequest{Color: color, Ref: ref, Reason: "agentbench"}, progress)
	dep.took = time.Since(start)
	if err == nil && d.Status != bluegreen.DeploymentSucceeded {
		err = fmt.Errorf("deployment %s ended %s", d.ID, d.Status)
	}
	if err != nil {
		var hosts []string
		for _, h := range d.Hosts {
			hosts = append(hosts, fmt.Sprintf("%s %s %s %s", h.Host, h.Status, h.Error, strings.Join(h.Output, " / ")))
		}
		what := ref
		if what == "" {
			what = "its branch"
		}
		return dep, fmt.Errorf("%s: deploying %s into %s: %w (hosts: %s; logs in %s)", f.name, what, color, err, strings.Join(hosts, "; "), f.dir)
	}
	for _, h := range d.Hosts {
		dep.hosts = append(dep.hosts, time.Duration(h.DurationMS)*time.Millisecond)
	}
	return dep, nil
}

// stop stops the agents, then the apps they leave running by design (as
// internal/demo.StopApps does: through their supervisors), then serve,
// each by PID. It may be called on a fleet half started, and twice.
func (f *fleet) stop() {
	for i := len(f.agents) - 1; i >= 0; i-- {
		f.agents[i].stop(10 * time.Second)
	}
	drv := process.New(f.bin, nil)
	for _, h := range f.hosts {
		files, _ := filepath.Glob(filepath.Join(h.dir, "run", "*", "*", "supervisor.json"))
		for _, file := range files {
			app, err := drv.Adopt(filepath.Dir(file))
			if err != nil {
				continue // already stopped
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := app.Stop(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "agentbench: stopping %s's app: %v\n", h.name, err)
			}
			cancel()
		}
	}
	if f.serve != nil {
		f.serve.stop(10 * time.Second)
	}
}
