// Command agentbench measures how long `deploy` takes into a color of
// hosts, each run by its own `bluegreen agent`, with the hosts deployed all
// at once (app.max_parallel unset) and one at a time (max_parallel: 1).
//
// It builds nothing: -bin is the bluegreen binary to run. It makes a git
// repository of a small app (the binary's own `sample-app` on $PORT, with
// one build step, -build, `sleep 0.5` by default: a fixed, realistic build
// time, so that parallelism shows) and, for each -hosts count N, starts two
// fleets side by side, one per mode: a serve on SQLite whose blue and green
// each have N hosts, and 2×N agents, each in a temporary directory of its
// own with its app on a loopback port of its own, reporting every
// -interval. In each fleet it deploys blue (the live color) and green once
// without measuring (a warm-up), then deploys green -rounds times through
// the API client, alternating two refs so that every deploy is a new
// release, the two fleets taking turns to go first, each deploy after a
// random pause shorter than -interval (so that it does not start in step
// with the agents' reports). A deploy's time is the
// API call's: from the request to the answer that every host passed (its
// agent reported the new app started and the host passed its health
// check).
//
// It prints a Markdown table: per host count and mode, the median, minimum
// and maximum deploy time, every round's, the medians of the hosts' own
// times (from a host's order to its pass) and of their waits for their
// agents (from the order to the agent's first report of the work: the
// agents call serve every -interval), and the ratio of the median all at
// once to the median one at a time.
//
// It stops what it started when it ends, also on failure, Ctrl-C or
// SIGTERM: the agents, then the apps they leave running by design (through
// their supervisors), then serve, each by PID. The temporary directory
// (logs, configs, state) is removed unless the run failed or -keep is
// given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

func main() { benchkit.Main("agentbench", run) }

// options are the command-line flags.
type options struct {
	bin, build string
	hosts      []int
	rounds     int
	interval   time.Duration
	keep       bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var hosts string
	fs := flag.NewFlagSet("agentbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin/bluegreen", "the bluegreen binary (go build -o bin/bluegreen ./cmd/bluegreen)")
	fs.StringVar(&hosts, "hosts", "1,3,6", "host counts per color, comma-separated")
	fs.IntVar(&o.rounds, "rounds", 5, "measured deploys per host count and mode")
	fs.StringVar(&o.build, "build", "sleep 0.5", "the app's build step, a shell command run on every host")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "the agents' --interval (how often each calls serve; 2s is the agent's default)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, configs, state) after a successful run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(hosts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-hosts %q: want positive integers separated by commas", hosts)
		}
		o.hosts = append(o.hosts, n)
	}
	if o.rounds < 1 || o.interval <= 0 {
		return o, errors.New("-rounds and -interval must be positive")
	}
	return o, nil
}

// refs are the branches the measured deploys alternate between, so that
// each deploys a commit the color does not run.
var refs = [2]string{"release-a", "release-b"}

// result is one fleet's measured deploys.
type result struct {
	n, maxParallel int
	mode           string
	deploys        []time.Duration // each round's deploy, in order
	hosts          []time.Duration // every host's own time, all rounds
	waits          []time.Duration // every host's wait for its agent, all rounds
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.bin, err = exec.LookPath(o.bin); err != nil {
		return err
	}
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "agentbench.")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || o.keep {
			fmt.Fprintf(stderr, "agentbench: logs, configs and state kept in %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	repo := filepath.Join(dir, "app")
	if err := makeRepo(ctx, repo); err != nil {
		return err
	}
	rep := report{opts: o, args: args, started: time.Now(), loadBefore: benchkit.LoadAverage()}
	given := ports{}
	for _, n := range o.hosts {
		rs, err := measure(ctx, o, filepath.Join(dir, fmt.Sprintf("hosts-%d", n)), repo, given, n, stderr)
		if err != nil {
			return err
		}
		rep.results = append(rep.results, rs...)
	}
	rep.loadAfter = benchkit.LoadAverage()
	rep.print(stdout)
	return nil
}

// measure starts a fleet of n hosts per color in each mode, deploys blue
// and green once in each, then measures o.rounds deploys of green in each,
// the fleets taking turns to go first. It stops both fleets before it
// returns.
func measure(ctx context.Context, o options, dir, repo string, given ports, n int, progress io.Writer) ([]*result, error) {
	var fleets []*fleet
	defer func() {
		for _, f := range fleets {
			f.stop()
		}
	}()
	for _, par := range []int{0, 1} {
		f, err := startFleet(ctx, o, filepath.Join(dir, fmt.Sprintf("max-parallel-%d", par)), repo, given, n, par)
		fleets = append(fleets, f)
		if err != nil {
			return nil, err
		}
	}
	results := make([]*result, len(fleets))
	for i, f := range fleets {
		results[i] = &result{n: n, maxParallel: f.maxParallel, mode: f.mode()}
		if _, err := f.deploy(ctx, bluegreen.Blue, ""); err != nil {
			return nil, err
		}
		dep, err := f.deploy(ctx, bluegreen.Green, refs[1])
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "agentbench: %s: warm-up deploy of green %.2fs\n", f.name, dep.took.Seconds())
	}
	for r := range o.rounds {
		ref := refs[r%2]
		for k := range fleets {
			i := (k + r) % len(fleets)
			// Deploys back to back would start in step with the agents'
			// reports (each reports at once when its app started, then
			// every interval): a random pause spreads the start over the
			// agents' period, as a deploy at any moment would be.
			if err := benchkit.Pause(ctx, rand.N(o.interval)); err != nil {
				return nil, err
			}
			dep, err := fleets[i].deploy(ctx, bluegreen.Green, ref)
			if err != nil {
				return nil, err
			}
			res := results[i]
			res.deploys = append(res.deploys, dep.took)
			res.hosts = append(res.hosts, dep.hosts...)
			res.waits = append(res.waits, dep.waits...)
			fmt.Fprintf(progress, "agentbench: %s: round %d/%d: deploy of green (%s) %.2fs\n", fleets[i].name, r+1, o.rounds, ref, dep.took.Seconds())
		}
	}
	return results, nil
}

// makeRepo makes the app's git repository in dir: branch production (blue)
// and green at the first commit, release-a and release-b one commit each
// past it, every commit with its own VERSION.
func makeRepo(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	git := func(args ...string) error {
		args = append([]string{"-C", dir, "-c", "user.name=agentbench", "-c", "user.email=agentbench@localhost", "-c", "commit.gpgsign=false"}, args...)
		if out, err := exec.CommandContext(ctx, "git", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	commit := func(version string) error {
		if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
			return err
		}
		if err := git("add", "VERSION"); err != nil {
			return err
		}
		return git("commit", "-q", "-m", version)
	}
	steps := []func() error{
		func() error { return git("init", "-q", "-b", "production") },
		func() error { return commit("v1") },
		func() error { return git("branch", "green") },
	}
	for _, ref := range refs {
		steps = append(steps,
			func() error { return git("checkout", "-q", "-b", ref, "production") },
			func() error { return commit(ref) })
	}
	steps = append(steps, func() error { return git("checkout", "-q", "production") })
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
