// Package daemon is bluegreen's long-running process: the router's public
// and preview listeners, the controller and the API, and the life around
// them (signals, configuration reload, hand-over to a new process,
// sd_notify, garbage collector and file limits, metrics).
//
// A Daemon is built by New, which sets everything up or nothing (a
// listener that cannot bind, a bad secret, a state that cannot be opened:
// what was set up is closed again), served by Run until its context ends,
// a listener fails or it handed over, and released by Close. The serve verb
// of cmd/bluegreen is New, Run and Close; the demo runs a Daemon inside
// its own process.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/check"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/driver/command"
	"github.com/bluegreen/bluegreen/driver/process"
	"github.com/bluegreen/bluegreen/internal/sched"
	"github.com/bluegreen/bluegreen/internal/statestore"
	"github.com/bluegreen/bluegreen/router"
)

// Options are how a Daemon runs besides its configuration.
type Options struct {
	// Own says that the Daemon is the whole process (the serve verb): then
	// it takes the sockets a hand-over or a service manager (socket
	// activation) passed it, hands over on SIGUSR2 and POST /v1/handover,
	// and tells a service manager when it is ready. The demo, which runs a
	// Daemon inside its own process, does none of that.
	Own bool
	// Ready, if set, is called once every listener is bound and serving.
	Ready func(Endpoints)
	// Version is the program's version, for the history.
	Version string
}

// Endpoints are the addresses a Daemon actually listens on, and its token.
type Endpoints struct {
	Public, Preview, API string
	Live                 bluegreen.Color
	TokenFile            string
	TokenCreated         bool
	Token                string `json:"-"`
	// APIScheme is "https" when the API serves TLS, else "http".
	APIScheme string
}

// Daemon is one running bluegreen server. Its methods other than HandOver
// and Reload must be called from one goroutine: New, then Run, then Close.
type Daemon struct {
	cfg    *config.Config
	logger *slog.Logger
	opts   Options

	usr2 chan os.Signal // SIGUSR2 and HandOver: hand over to a new process
	inh  *inheritance   // what a hand-over passed this process; nil otherwise
	lns  []net.Listener // public, preview, API: owned until Close

	store     statestore.Store
	state     bluegreen.State // as bootstrapped
	rt        *router.Router
	ctl       *controller.Controller
	monitor   *check.Monitor
	apps      *process.Apps // nil unless the process driver runs the apps
	member    *member       // nil unless the state is on etcd
	notifyEnd func()        // delivers queued notices (a few seconds at most)
	rl        *reloader

	token, tokenFile string
	tokenCreated     bool
	tuning           []any // what the tuning chose, for the "serving" log line
	loops            int   // event loops per server (0: no event loop)
	publicCap        int
	previewCap       int

	reloadMu sync.Mutex // serializes Reload and the hand-over's recovery
}

// New sets up a Daemon for cfg: the state directory and file, the API
// token, the router, the listeners, the app driver, the controller and the
// notifiers. Nothing is served until Run. On an error everything set up so
// far is closed again; the error is EINVALID for a configuration that cannot
// work (a secret not found, a bad provider, more ports than the process
// driver runs), else an internal one. ctx bounds the set-up only.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts Options) (d *Daemon, err error) {
	d = &Daemon{cfg: cfg, logger: logger, opts: opts, usr2: make(chan os.Signal, 1)}
	defer func() {
		if err != nil {
			d.Close()
			d = nil
		}
	}()
	if opts.Own {
		// SIGUSR2 hands over to a new process (see handover); from now on
		// it waits for Run rather than ending the process.
		signal.Notify(d.usr2, syscall.SIGUSR2)
		if d.inh, err = takeInheritance(); err != nil {
			return d, fmt.Errorf("taking over from the old serve: %w", err)
		}
		if d.inh != nil {
			// Checked before anything is touched: a new serve that cannot
			// use the sockets fails without committing to the state.
			if d.lns, err = d.inh.listeners(cfg.Listen, cfg.Preview, cfg.API); err != nil {
				return d, err
			}
		}
	}
	if err := d.prepare(); err != nil {
		return d, err
	}
	if d.store, err = openStore(ctx, cfg); err != nil {
		return d, err
	}
	bootstrap := controller.Bootstrap
	if cfg.Cluster != nil {
		// Several instances may share the state: the leader records its
		// colors as it takes over (member.takeOver), not each at start.
		bootstrap = controller.Create
	}
	if d.state, err = bootstrap(ctx, d.store, cfg.InitialLive, colorSpecs(cfg), time.Now()); err != nil {
		return d, err
	}
	if d.rt, err = newRouter(cfg, filepath.Join(cfg.StateDir, "tmp"), d.state.Live, d.loops, logger); err != nil {
		return d, fmt.Errorf("setting up the router: %w", err)
	}
	if d.inh == nil {
		// From the service manager (socket activation) when it passed
		// them, else bound here.
		if d.lns, err = bindListeners(opts.Own, cfg, logger); err != nil {
			return d, err
		}
	}
	if err := d.joinCluster(ctx); err != nil {
		return d, err
	}
	return d, d.wire(ctx)
}

// prepare checks the state directory and file, tunes the runtime and
// reads (or makes) the API token.
func (d *Daemon) prepare() error {
	cfg := d.cfg
	if err := checkStateDir(cfg.StateDir); err != nil {
		return err
	}
	if cfg.Etcd == nil {
		if err := checkStateFile(cfg.StateDir); err != nil {
			return err
		}
	}
	// Buffered request bodies past router.buffer_memory go to unlinked
	// temp files here.
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "tmp"), 0o700); err != nil {
		return fmt.Errorf("making the directory for buffered request bodies: %w", err)
	}
	gogc := tuneGC()
	memLimit := tuneMemory(cfg.Router.MemoryLimit)
	nofile := fileLimit()
	d.publicCap, d.previewCap = connectionCaps(nofile, cfg.Router.MaxConnections)
	procs, loops := tuneProcs(dataPath(cfg.Router.DataPath) == config.DataPathLoop, cfg.Router.EventLoops)
	if loops > 0 && loops >= procs {
		// Each busy loop holds a P: the API, health checks and switches
		// would wait up to 10 ms for one under load.
		msg := "router.event_loops leaves no P (GOMAXPROCS) for the API and health checks; lower it or raise GOMAXPROCS"
		if cfg.Router.EventLoops == 0 {
			msg = "GOMAXPROCS leaves no P beside the event loop for the API and health checks; raise it or unset it"
		}
		d.logger.Warn(msg, "event_loops", loops, "gomaxprocs", procs)
	}
	d.tuning = []any{"gogc", gogc, "memory_limit", memLimit, "nofile", nofile, "max_connections", d.publicCap,
		"preview_max_connections", d.previewCap, "data_path", dataPath(cfg.Router.DataPath), "gomaxprocs", procs,
		"event_loops", loops}
	d.loops = loops
	d.tokenFile = filepath.Join(cfg.StateDir, TokenFileName)
	var err error
	d.token, d.tokenCreated, err = ensureToken(d.tokenFile, d.logger)
	return err
}

// wire sets up the app driver, the health monitor, the controller and the
// notifiers.
func (d *Daemon) wire(ctx context.Context) error {
	cfg, logger := d.cfg, d.logger
	var (
		deployer *controller.DeployConfig
		adopted  map[bluegreen.Color]string
	)
	if cfg.App != nil {
		var driver controller.AppDriver
		if cfg.App.Driver == config.DriverCommand {
			cmdApps := command.New(command.Config{Deploy: cfg.App.Command.Deploy, Stop: cfg.App.Command.Stop,
				Status: cfg.App.Command.Status, Dir: configDir(cfg), Env: baseEnv(cfg.App), Ports: colorPorts(cfg)})
			adopted = cmdApps.Statuses(ctx)
			driver = cmdApps
		} else {
			for _, c := range bluegreen.Colors {
				if n := len(cfg.Colors[c].Ports); n > 1 {
					return invalidf("%s: %s lists %d ports, but the process driver runs one app process per color (on its first port); use one port, or the command driver", cfg.File, c, n)
				}
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the bluegreen binary for the supervisor: %w", err)
			}
			d.apps = process.NewApps(process.AppsConfig{Binary: bin, Root: filepath.Join(cfg.StateDir, "run"),
				Command: cfg.App.Run, StopGrace: cfg.App.StopGrace, Logger: logger})
			adopted = d.apps.Adopt()
			driver = d.apps
		}
		var err error
		if deployer, err = deployConfig(ctx, cfg, driver, logger); err != nil {
			return err
		}
	}

	targets := make(map[bluegreen.Color]check.Target, 2)
	for _, c := range bluegreen.Colors {
		targets[c] = healthTarget(cfg.Colors[c], cfg.App)
	}
	d.monitor = check.NewMonitor(targets, func(c bluegreen.Color, h bluegreen.Health) {
		// With several instances only the leader records verdicts: the
		// others' controllers do not commit.
		if d.member == nil || d.member.leading.Load() {
			d.ctl.RecordHealth(c, h)
		}
	}, logger)
	opts := controller.Options{
		Store: d.store, Router: d.rt, Health: d.monitor,
		DrainTimeout: cfg.Router.DrainTimeout, Logger: logger, Deploy: deployer,
		Verifier: newCheckVerifier(cfg, d.lns[0].Addr(), d.lns[1].Addr()),
		Watch:    watchConfig(cfg, logger), Meter: d.rt.Meter(),
		PreviewURL: cfg.PreviewURL,
		Raise:      sched.Raise,
		StoreStatus: func() bluegreen.StoreStatus {
			return bluegreen.StoreStatus{Kind: "sqlite", Where: filepath.Join(cfg.StateDir, StateFileName)}
		},
	}
	if m := d.member; m != nil {
		// The lock's holder: the instance, and the process (a restarted
		// instance must see its predecessor's lock as stale).
		opts.Cluster, opts.StoreStatus, opts.Instance = m, m.storeStatus, fmt.Sprintf("%s (pid %d)", m.in.ID(), os.Getpid())
		opts.Fence = m.fence
		// The watch judges every instance's traffic, not this router's.
		opts.Meter = newClusterMeter(m.in, d.rt.Stats, logger)
	}
	if opts.PreviewURL == "" {
		opts.PreviewURL = baseURL(d.lns[1].Addr())
	}
	if cfg.App != nil {
		opts.Gates = controller.GateConfig{VerifyOnDeploy: cfg.App.VerifyOnDeploy,
			AutoPromote: cfg.App.Promotion == config.PromotionAuto, RequireApproval: cfg.App.RequireApproval}
	}
	var err error
	if opts.DNS, err = dnsSwitcher(ctx, cfg); err != nil {
		return err
	}
	tell, closeNotify, err := notifiers(cfg, d.store, logger)
	if err != nil {
		return err
	}
	d.notifyEnd = closeNotify
	if len(tell) > 0 {
		opts.Notify = func(ev bluegreen.Event) {
			for _, n := range tell {
				n(ev)
			}
		}
	}
	d.ctl = controller.New(opts, d.state)
	if d.member != nil {
		d.member.ctl, d.member.monitor = d.ctl, d.monitor
	}
	for c, what := range adopted {
		logger.Info("app", "color", c, "found", what)
		_ = d.store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionProcess,
			Color: c, Outcome: bluegreen.OutcomeOK, Message: string(c) + " app " + what})
	}
	d.rl = &reloader{path: cfg.File, running: cfg, ctl: d.ctl, rt: d.rt, monitor: d.monitor, store: d.store, logger: logger}
	if m := d.member; m != nil {
		d.rl.records = m.leading.Load
		m.recordColors = func(ctx context.Context) error {
			d.reloadMu.Lock()
			defer d.reloadMu.Unlock()
			_, err := d.ctl.Reconfigure(ctx, colorSpecs(d.rl.running))
			return err
		}
	}
	return nil
}

// HandOver asks Run to hand over to a new process (what SIGUSR2 does) and
// returns this process's pid at once; the hand-over's outcome is logged and
// recorded. It returns ECONFLICT when a hand-over is already pending, and
// EINVALID when the Daemon is not the whole process (Options.Own). Safe
// for concurrent use.
func (d *Daemon) HandOver() (int, error) {
	if !d.opts.Own {
		return 0, invalidf("this server runs inside another program: it cannot hand over")
	}
	select {
	case d.usr2 <- syscall.SIGUSR2:
		return os.Getpid(), nil
	default:
		return 0, bluegreen.Errorf(bluegreen.ECONFLICT, "a hand-over is already pending")
	}
}

// Reload re-reads the configuration file and applies what it can at once
// (each color's branch, upstreams and health check); the outcome is logged
// and recorded, never returned. Without a configuration file it only
// warns. Safe for concurrent use with Run.
func (d *Daemon) Reload(ctx context.Context) {
	if d.cfg.File == "" {
		d.logger.Warn("SIGHUP: no configuration file to reload")
		return
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.member != nil {
		ctx = d.member.fence(ctx) // the leader records its colors under its leadership
	}
	d.rl.reload(ctx)
}

// Close releases what New set up, in order: the controller (recording the
// refusals it still counts), the notifiers (delivering what is queued, a
// few seconds at most), the router, the state and the listeners that Run
// did not already close. It may be called once, after Run returned (or
// instead of Run).
func (d *Daemon) Close() {
	if d.member != nil {
		d.member.close()
	}
	if d.ctl != nil {
		d.ctl.Close()
	}
	if d.notifyEnd != nil {
		d.notifyEnd()
	}
	if d.rt != nil {
		d.rt.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
	closeAll(d.lns) // those Run served are closed already; closing them again does nothing
	signal.Stop(d.usr2)
}

// httpServer is an *http.Server or a router.Server.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// newAPIServer returns the API's server.
func (d *Daemon) newAPIServer() *http.Server {
	// The API's POST /v1/handover does what SIGUSR2 does (the whole
	// process only).
	var handOver func() (int, error)
	if d.opts.Own {
		handOver = d.HandOver
	}
	ctl := d.ctl
	o := api.Options{Token: d.token, ColorPath: d.cfg.Router.ColorPath, Logger: d.logger,
		Metrics: metricsHandler(d.rt, ctl), Tokens: d.store, HandOver: handOver,
		// Through the controller: the API's refusals are collapsed with
		// its own.
		Record: func(ev bluegreen.Event) { ctl.Record(context.Background(), ev) }}
	if m := d.member; m != nil {
		o.Tokens, o.Leader = sharedAdmins{d.store, m.in}, m.leader
		o.LeaderTransport = leaderTransport(d.cfg)
	}
	handler := api.NewHandler(ctl, o)
	if m := d.member; m != nil {
		// The calls this instance serves commit under the leadership it
		// holds when they commit (a call that arrives while it takes over
		// included): one still running when it ends cannot commit.
		inner := handler
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(w, r.WithContext(m.fence(r.Context())))
		})
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn),
	}
}

// invalidf is a configuration that cannot work: the domain's invalid-input
// error (the CLI's exit code 2).
func invalidf(format string, args ...any) error {
	return bluegreen.Errorf(bluegreen.EINVALID, format, args...)
}
