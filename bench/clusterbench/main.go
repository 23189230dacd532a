// Command clusterbench measures switches across several routers on one
// etcd. It starts everything itself on 127.0.0.1, in a temporary directory:
// an etcd cluster (-etcd-members, one by default), two bench/backend
// upstreams (blue and green), -serves `bluegreen serve` instances on that
// etcd (edge-1 to edge-N, the post-switch watch off so that no switch is
// refused or slowed by one) and one serve on SQLite with the same upstreams
// for comparison. Every serve gets its own load client (the loadgen
// package, -c connections, at -rate req/s each), all of them running for
// the whole measurement, so both stores are measured on the same busy
// machine.
//
// It then makes -n switches through the API rotating over the etcd
// instances (a follower passes the switch to the leader), and -n switches
// on the SQLite serve, and prints a Markdown report: requests and failed
// requests at every instance, and per store the switch latency; for etcd
// also the spread between the first and the last router serving the new
// color, how long the leader waited for the routers' acknowledgements, and
// how many acknowledgements were missing. It exits 1 when a request or a
// switch failed, or a router did not confirm a switch.
//
// It stops what it started, by PID, when it ends, also on Ctrl-C or
// SIGTERM; the temporary directory (logs, configs, data) is removed unless
// the run failed or -keep is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/loadgen"

	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

func main() { benchkit.Main("clusterbench", run) }

// options are the command-line flags.
type options struct {
	bin, etcd, backend                     string
	serves, members, switches, conns, rate int
	gap, warmup                            time.Duration
	keep                                   bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("clusterbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin/bluegreen", "the bluegreen binary (go build -o bin/bluegreen ./cmd/bluegreen)")
	fs.StringVar(&o.etcd, "etcd", "/usr/bin/etcd", "the etcd server binary")
	fs.StringVar(&o.backend, "backend", "", "the bench/backend binary (empty: go build ./bench/backend, from the module root)")
	fs.IntVar(&o.serves, "serves", 3, "serve instances on etcd")
	fs.IntVar(&o.members, "etcd-members", 1, "etcd cluster members")
	fs.IntVar(&o.switches, "n", 100, "switches on etcd, and again on SQLite")
	fs.IntVar(&o.conns, "c", 8, "load connections at each serve")
	fs.IntVar(&o.rate, "rate", 1000, "load rate in req/s at each serve, over its connections (0: as fast as they go)")
	fs.DurationVar(&o.gap, "gap", 50*time.Millisecond, "pause between the end of one switch and the next")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before the first switch")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, configs, data) after a successful run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.serves < 1 || o.members < 1 || o.switches < 1 || o.conns < 1 || o.rate < 0 || o.gap < 0 || o.warmup < 0 {
		return o, errors.New("-serves, -etcd-members, -n and -c must be positive, -rate, -gap and -warmup not negative")
	}
	return o, nil
}

// switchRecord is one switch as the benchmark saw it.
type switchRecord struct {
	via string // the instance the API call went to
	res bluegreen.SwitchResult
	rtt time.Duration // client-side round trip of the API call
	err error
}

// target is a serve under load.
type target struct {
	*serveInfo
	client *api.Client
	store  string // "etcd" or "SQLite"
	load   *loadgen.Runner
	result *loadgen.Result
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	for _, b := range []*string{&o.bin, &o.etcd} {
		if *b, err = exec.LookPath(*b); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "clusterbench.")
	if err != nil {
		return err
	}
	ps := &procs{dir: dir}
	defer func() {
		ps.stop(10 * time.Second)
		if err != nil || o.keep {
			fmt.Fprintf(stderr, "clusterbench: logs, configs and data kept in %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	loadAvg := benchkit.LoadAverage()

	targets, err := startAll(ctx, o, ps)
	if err != nil {
		return err
	}
	etcds, sqlite := targets[:o.serves], targets[o.serves]
	for _, t := range targets {
		if t.load, err = loadgen.Start(ctx, loadgen.Options{URL: "http://" + t.Public + "/", Connections: o.conns, Rate: o.rate}); err != nil {
			return fmt.Errorf("starting the load on %s: %w", t.name, err)
		}
		defer t.load.Stop()
	}
	if err := benchkit.Pause(ctx, o.warmup); err != nil {
		return err
	}
	etcdRecs, err := switches(ctx, o, etcds)
	if err != nil {
		return err
	}
	sqliteRecs, err := switches(ctx, o, []*target{sqlite})
	if err != nil {
		return err
	}
	for _, t := range targets {
		t.result = t.load.Stop()
	}
	r := report{opts: o, args: args, loadAvg: loadAvg, targets: targets, etcd: etcdRecs, sqlite: sqliteRecs}
	r.print(stdout)
	if !r.ok() {
		return errors.New("some requests or switches failed, or a router did not confirm a switch (see above)")
	}
	return nil
}

// startAll starts etcd, the backends, the serves on etcd (edge-1 first, so
// that it leads) and the serve on SQLite, and returns the serves, the one
// on SQLite last, once every etcd instance is listed and every serve sees
// both colors healthy.
func startAll(ctx context.Context, o options, ps *procs) ([]*target, error) {
	if o.backend == "" {
		o.backend = filepath.Join(ps.dir, "backend")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", o.backend, "./bench/backend").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building bench/backend (run from the module root, or give -backend): %v\n%s", err, out)
		}
	}
	eps, err := ps.startEtcd(ctx, o.etcd, o.members)
	if err != nil {
		return nil, err
	}
	blue, err := ps.startBackend(ctx, o.backend, "blue")
	if err != nil {
		return nil, err
	}
	green, err := ps.startBackend(ctx, o.backend, "green")
	if err != nil {
		return nil, err
	}
	var targets []*target
	add := func(name, store, state string) error {
		s, err := ps.startServe(ctx, o.bin, name, serveConfig(state, blue, green))
		if err != nil {
			return err
		}
		targets = append(targets, &target{serveInfo: s, store: store, client: api.NewClient(s.API, s.token, "clusterbench")})
		return nil
	}
	for i := 1; i <= o.serves; i++ {
		name := fmt.Sprintf("edge-%d", i)
		state := fmt.Sprintf("state: etcd://%s/clusterbench\ndata_dir: %s\ncluster: {id: %s}",
			strings.Join(eps, ","), filepath.Join(ps.dir, name, "data"), name)
		if err := add(name, "etcd", state); err != nil {
			return nil, err
		}
		if i == 1 {
			if err := waitInstances(ctx, targets[0], 1); err != nil {
				return nil, err
			}
		}
	}
	if err := waitInstances(ctx, targets[0], o.serves); err != nil {
		return nil, err
	}
	if err := add("sqlite", "SQLite", "state: "+filepath.Join(ps.dir, "sqlite", "state")); err != nil {
		return nil, err
	}
	for _, t := range targets {
		if err := waitHealthy(ctx, t); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

// serveConfig is a serve's configuration: listeners on free ports, the
// state store's section (state:, and for etcd data_dir: and cluster:)
// given, blue and green as the colors' upstreams, the post-switch watch
// off.
func serveConfig(store, blue, green string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
%s
initial_live: blue
router: {drain_timeout: 10s}
watch: {enabled: false}
blue:
  branch: blue
  upstreams: [%s]
  health: {path: /healthz, interval: 1s}
green:
  branch: green
  upstreams: [%s]
  health: {path: /healthz, interval: 1s}
`, store, blue, green)
}

// switches makes o.switches switches, through each of targets in turn,
// each to the color not live before it.
func switches(ctx context.Context, o options, targets []*target) ([]switchRecord, error) {
	live, err := targets[0].client.Color(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the live color from %s: %w", targets[0].name, err)
	}
	recs := make([]switchRecord, 0, o.switches)
	for i := range o.switches {
		t := targets[i%len(targets)]
		rec := switchRecord{via: t.name}
		start := time.Now()
		rec.res, rec.err = t.client.Switch(ctx, bluegreen.SwitchRequest{To: live.Other(), Reason: fmt.Sprintf("clusterbench %d/%d", i+1, o.switches)})
		rec.rtt = time.Since(start)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if rec.err == nil {
			live = rec.res.To
		} else if c, err := t.client.Color(ctx); err == nil {
			live = c
		}
		recs = append(recs, rec)
		if err := benchkit.Pause(ctx, o.gap); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// waitInstances waits until t lists n instances, one of them the leader.
func waitInstances(ctx context.Context, t *target, n int) error {
	var last bluegreen.Status
	var lastErr error
	err := benchkit.Poll(ctx, 30*time.Second, func() bool {
		last, lastErr = t.client.Status(ctx)
		leader := false
		for _, in := range last.Instances {
			leader = leader || in.Role == bluegreen.RoleLeader
		}
		return lastErr == nil && leader && len(last.Instances) == n
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to list %d instances with a leader (last: %+v, %v): %w", t.name, n, last.Instances, lastErr, err)
	}
	return nil
}

// waitHealthy waits until t reports both colors healthy: a switch to an
// unhealthy color is refused.
func waitHealthy(ctx context.Context, t *target) error {
	var h map[bluegreen.Color]bluegreen.Health
	var herr error
	err := benchkit.Poll(ctx, 30*time.Second, func() bool {
		h, herr = t.client.Health(ctx)
		return herr == nil && h[bluegreen.Blue].Status == bluegreen.HealthHealthy && h[bluegreen.Green].Status == bluegreen.HealthHealthy
	})
	if err != nil {
		return fmt.Errorf("waiting for both colors to be healthy at %s (last answer: %v, error: %v): %w", t.name, h, herr, err)
	}
	return nil
}
