package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/check"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/driver/command"
	"github.com/bluegreen/bluegreen/driver/process"
	"github.com/bluegreen/bluegreen/internal/sched"
	"github.com/bluegreen/bluegreen/router"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

func newServeCmd(g *globals) *cobra.Command {
	var logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the router, the controller and the API",
		Long: "serve runs the public listener (the live color), the preview listener (the inactive color)\n" +
			"and the API, as the configuration file says. On first start it creates the state directory and\n" +
			"an API token file (mode 0600) in it, and prints where it is.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErrorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			// The file holds commands serve runs: only its owner may write it.
			if err := config.CheckMode(g.configPath); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			cfg, err := config.Load(g.configPath)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			logger := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			return serve(cmd.Context(), cfg, logger, func(e endpoints) { printEndpoints(g, e) }, true)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// endpoints are the addresses serve actually listens on, and its token.
type endpoints struct {
	Public, Preview, API string
	Live                 bluegreen.Color
	TokenFile            string
	TokenCreated         bool
	Token                string `json:"-"`
	// APIScheme is "https" when the API serves TLS, else "http".
	APIScheme string
}

func printEndpoints(g *globals, e endpoints) {
	if g.json() {
		_ = writeJSON(g.stdout, map[string]any{"public": "http://" + e.Public, "preview": "http://" + e.Preview,
			"api": e.APIScheme + "://" + e.API, "live": e.Live, "token_file": e.TokenFile, "token_created": e.TokenCreated})
		return
	}
	created := ""
	if e.TokenCreated {
		created = " (created now; keep it secret)"
	}
	fmt.Fprintf(g.stdout, "bluegreen serving; %s is live\n  public   http://%s\n  preview  http://%s  (%s)\n  api      %s://%s\n  token    %s%s\n",
		e.Live, e.Public, e.Preview, e.Live.Other(), e.APIScheme, e.API, e.TokenFile, created)
}

// serve runs until ctx ends, a listener fails, or (own) it handed over to a
// new serve. ready is called once every listener is bound and serving.
// Nothing is served unless everything could be set up: a listener that
// cannot bind closes the others first. own says that serve is the whole
// process (the serve verb): then it takes the sockets a hand-over passed it,
// hands over on SIGUSR2 and tells a service manager when it is ready; the
// demo, which runs serve inside its own process, does none of that.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, ready func(endpoints), own bool) (err error) {
	var (
		inh       *inheritance
		inherited []net.Listener
		usr2      = make(chan os.Signal, 1)
	)
	if own {
		// SIGUSR2 hands over to a new serve (see handover); from now on it
		// waits for the loop below rather than ending the process.
		signal.Notify(usr2, syscall.SIGUSR2)
		defer signal.Stop(usr2)
		if inh, err = takeInheritance(); err != nil {
			return fmt.Errorf("taking over from the old serve: %w", err)
		}
		if inh != nil {
			// Checked before anything is touched: a new serve that cannot
			// use the sockets fails without committing to the state.
			if inherited, err = inh.listeners(cfg.Listen, cfg.Preview, cfg.API); err != nil {
				return err
			}
		}
	}
	if err := checkStateDir(cfg.StateDir); err != nil {
		return err
	}
	if err := checkStateFile(cfg.StateDir); err != nil {
		return err
	}
	// Buffered request bodies past router.buffer_memory go to unlinked
	// temp files here.
	bodyTempDir := filepath.Join(cfg.StateDir, "tmp")
	if err := os.MkdirAll(bodyTempDir, 0o700); err != nil {
		return fmt.Errorf("making the directory for buffered request bodies: %w", err)
	}
	gogc := tuneGC()
	memLimit := tuneMemory(cfg.Router.MemoryLimit)
	nofile := fileLimit()
	publicCap, previewCap := connectionCaps(nofile, cfg.Router.MaxConnections)
	procs, loops := tuneProcs(dataPath(cfg.Router.DataPath) == config.DataPathLoop, cfg.Router.EventLoops)
	if loops > 0 && loops >= procs {
		// Each busy loop holds a P: the API, health checks and switches
		// would wait up to 10 ms for one under load.
		msg := "router.event_loops leaves no P (GOMAXPROCS) for the API and health checks; lower it or raise GOMAXPROCS"
		if cfg.Router.EventLoops == 0 {
			msg = "GOMAXPROCS leaves no P beside the event loop for the API and health checks; raise it or unset it"
		}
		logger.Warn(msg, "event_loops", loops, "gomaxprocs", procs)
	}
	tokenFile := filepath.Join(cfg.StateDir, tokenFileName)
	token, created, err := ensureToken(tokenFile, logger)
	if err != nil {
		return err
	}

	store, err := sqlite.Open(ctx, filepath.Join(cfg.StateDir, stateFileName))
	if err != nil {
		return fmt.Errorf("opening the state: %w", err)
	}
	defer store.Close()

	specs := make(map[bluegreen.Color]controller.ColorSpec, 2)
	upstreams := make(map[bluegreen.Color][]string, 2)
	targets := make(map[bluegreen.Color]check.Target, 2)
	for _, c := range bluegreen.Colors {
		cc := cfg.Colors[c]
		specs[c] = controller.ColorSpec{Branch: cc.Branch, Upstreams: cc.Upstreams}
		upstreams[c] = cc.Upstreams
		targets[c] = healthTarget(cc)
	}
	state, err := controller.Bootstrap(ctx, store, cfg.InitialLive, specs, time.Now())
	if err != nil {
		return err
	}

	rt, err := router.New(router.Options{
		ColorPath:            cfg.Router.ColorPath,
		ColorHeader:          cfg.Router.ColorHeader,
		MaxRequestBody:       cfg.Router.MaxRequestBody,
		MaxHeaderBytes:       int(cfg.Router.MaxHeaderBytes),
		MaxURILength:         int(cfg.Router.MaxURILength),
		MaxHeaders:           cfg.Router.MaxHeaders,
		UnderscoresInHeaders: cfg.Router.UnderscoresInHeaders,
		BufferRequests:       cfg.Router.BufferRequests,
		BufferMemory:         int(cfg.Router.BufferMemory),
		BodyDeadline:         cfg.Router.BodyDeadline,
		BufferResponses:      cfg.Router.BufferResponses,
		BufferResponseMax:    cfg.Router.BufferResponseMax,
		TempDir:              bodyTempDir,
		ConnectTimeout:       cfg.Router.ConnectTimeout,
		ReadHeaderTimeout:    cfg.Router.ReadHeaderTimeout,
		IdleTimeout:          cfg.Router.IdleTimeout,
		BodyTimeout:          cfg.Router.BodyTimeout,
		TrustForwarded:       cfg.Router.TrustForwardedHeaders,
		ReverseProxyOnly:     cfg.Router.DataPath == config.DataPathStandard,
		NetHTTPServer:        cfg.Router.DataPath == config.DataPathStandard,
		EventLoop:            cfg.Router.DataPath == config.DataPathLoop,
		EventLoops:           loops,
		Logger:               logger,
	}, state.Live, upstreams)
	if err != nil {
		return fmt.Errorf("setting up the router: %w", err)
	}
	defer rt.Close()

	lns := inherited
	if inh == nil {
		// From the service manager (socket activation) when it passed
		// them, else bound here.
		if lns, err = bindListeners(own, cfg, logger); err != nil {
			return err
		}
	}

	var (
		apps     *process.Apps
		deployer *controller.DeployConfig
		adopted  map[bluegreen.Color]string
	)
	if cfg.App != nil {
		var driver controller.AppDriver
		if cfg.App.Driver == config.DriverCommand {
			ports := map[bluegreen.Color][]int{}
			for _, c := range bluegreen.Colors {
				ports[c] = cfg.Colors[c].Ports
			}
			cmdApps := command.New(command.Config{Deploy: cfg.App.Command.Deploy, Stop: cfg.App.Command.Stop,
				Status: cfg.App.Command.Status, Dir: configDir(cfg), Env: baseEnv(cfg.App), Ports: ports})
			adopted = cmdApps.Statuses(ctx)
			driver = cmdApps
		} else {
			for _, c := range bluegreen.Colors {
				if n := len(cfg.Colors[c].Ports); n > 1 {
					closeAll(lns)
					return usageErrorf("%s: %s lists %d ports, but the process driver runs one app process per color (on its first port); use one port, or the command driver", cfg.File, c, n)
				}
			}
			bin, err := os.Executable()
			if err != nil {
				closeAll(lns)
				return fmt.Errorf("finding the bluegreen binary for the supervisor: %w", err)
			}
			apps = process.NewApps(process.AppsConfig{Binary: bin, Root: filepath.Join(cfg.StateDir, "run"),
				Command: cfg.App.Run, StopGrace: cfg.App.StopGrace, Logger: logger})
			adopted = apps.Adopt()
			driver = apps
		}
		if deployer, err = deployConfig(ctx, cfg, driver, logger); err != nil {
			closeAll(lns)
			return err
		}
	}

	var ctl *controller.Controller
	monitor := check.NewMonitor(targets, func(c bluegreen.Color, h bluegreen.Health) { ctl.RecordHealth(c, h) }, logger)
	opts := controller.Options{
		Store: store, Router: rt, Health: monitor,
		DrainTimeout: cfg.Router.DrainTimeout, Logger: logger, Deploy: deployer,
		Verifier: newCheckVerifier(cfg, lns[0].Addr(), lns[1].Addr()),
		Watch:    watchConfig(cfg, logger), Meter: rt.Meter(),
		PreviewURL: cfg.PreviewURL,
		Raise:      sched.Raise,
	}
	if opts.PreviewURL == "" {
		opts.PreviewURL = baseURL(lns[1].Addr())
	}
	if cfg.App != nil {
		opts.Gates = controller.GateConfig{VerifyOnDeploy: cfg.App.VerifyOnDeploy,
			AutoPromote: cfg.App.Promotion == config.PromotionAuto, RequireApproval: cfg.App.RequireApproval}
	}
	if opts.DNS, err = dnsSwitcher(ctx, cfg); err != nil {
		closeAll(lns)
		return err
	}
	tell, closeNotify, err := notifiers(cfg, store, logger)
	if err != nil {
		closeAll(lns)
		return err
	}
	defer closeNotify()
	if len(tell) > 0 {
		opts.Notify = func(ev bluegreen.Event) {
			for _, n := range tell {
				n(ev)
			}
		}
	}
	ctl = controller.New(opts, state)
	defer ctl.Close() // records the refusals still being counted, before the store closes
	for c, what := range adopted {
		logger.Info("app", "color", c, "found", what)
		_ = store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionProcess,
			Color: c, Outcome: bluegreen.OutcomeOK, Message: string(c) + " app " + what})
	}

	if err := ctl.Reclaim(ctx); err != nil {
		closeAll(lns)
		return fmt.Errorf("reclaiming a stale lock: %w", err)
	}
	ctl.ResumeWatch(ctx)

	// The API's POST /v1/handover does what SIGUSR2 does (serve's own
	// process only).
	var handOverHook func() (int, error)
	if own {
		handOverHook = func() (int, error) {
			select {
			case usr2 <- syscall.SIGUSR2:
				return os.Getpid(), nil
			default:
				return 0, bluegreen.Errorf(bluegreen.ECONFLICT, "a hand-over is already pending")
			}
		}
	}
	newAPIServer := func() *http.Server {
		return &http.Server{
			Handler: api.NewHandler(ctl, api.Options{Token: token, ColorPath: cfg.Router.ColorPath, Logger: logger,
				Metrics: metricsHandler(rt, ctl), Tokens: store, HandOver: handOverHook,
				// Through the controller: the API's refusals are collapsed
				// with its own.
				Record: func(ev bluegreen.Event) { ctl.Record(context.Background(), ev) }}),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}
	public, preview := rt.NewServer(rt.Public()), rt.NewServer(rt.Preview())
	public.SetMaxConnections(publicCap)
	preview.SetMaxConnections(previewCap)
	servers := []httpServer{public, preview, newAPIServer()}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	// The health checks and the app event recorder stop for a hand-over
	// (and start again if it fails).
	startChecks := func() (stop func()) {
		checksCtx, stopChecks := context.WithCancel(runCtx)
		var checks sync.WaitGroup
		checks.Add(1)
		go func() { defer checks.Done(); monitor.Run(checksCtx) }()
		if apps != nil {
			checks.Add(1)
			go func() { defer checks.Done(); recordAppEvents(checksCtx, apps, store, logger) }()
		}
		return func() {
			stopChecks()
			checks.Wait()
			if apps != nil {
				// What the recorder had not copied yet: a serve that takes
				// over (or starts after this one) begins after it.
				if evs := apps.Events(); len(evs) > 0 {
					if err := store.Append(context.WithoutCancel(runCtx), evs...); err != nil {
						logger.Error("recording app events", "err", err)
					}
				}
			}
		}
	}
	stopChecks := startChecks()
	defer func() { stopChecks() }()
	serveErr := make(chan error, 1)
	startServer := func(i int, srv httpServer, ln net.Listener) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve := srv.Serve
			if api, ok := srv.(*http.Server); ok && cfg.APITLS != nil {
				serve = func(ln net.Listener) error { return api.ServeTLS(ln, cfg.APITLS.Cert, cfg.APITLS.Key) }
			}
			if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case serveErr <- fmt.Errorf("serving %s: %w", ln.Addr(), err):
				default: // one is enough to shut down
				}
			}
		}()
	}
	for i, srv := range servers {
		startServer(i, srv, lns[i])
	}
	// SIGHUP re-reads the configuration file (see reloader).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rl := &reloader{path: cfg.File, running: cfg, ctl: ctl, rt: rt, monitor: monitor, store: store, logger: logger}
	ho := &handover{lns: lns, ctl: ctl, logger: logger, timeout: cfg.Router.DrainTimeout + 5*time.Second,
		stopAPI: func(ctx context.Context) error { return servers[2].Shutdown(ctx) },
		startAPI: func(ln net.Listener) {
			servers[2] = newAPIServer()
			startServer(2, servers[2], ln)
		},
		pauseChecks: func() func() {
			stopChecks()
			return func() { stopChecks = startChecks() }
		},
		recover: func(ctx context.Context) error {
			st, err := ctl.Refresh(ctx)
			if err != nil {
				return fmt.Errorf("reloading the state the new serve may have changed: %w", err)
			}
			if st.Live != rt.Live() {
				rt.Switch(st.Live)
			}
			// The new serve's configuration may have changed the colors:
			// the state must say what this serve's router runs.
			if _, err := ctl.Reconfigure(ctx, colorSpecs(rl.running)); err != nil {
				return fmt.Errorf("restoring this serve's colors in the state: %w", err)
			}
			return nil
		},
	}

	started := fmt.Sprintf("serve started (pid %d, version %s); %s is live", os.Getpid(), version, state.Live)
	if inh != nil {
		started += fmt.Sprintf("; took over from pid %d", inh.from)
	}
	_ = store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
		Color: state.Live, Outcome: bluegreen.OutcomeOK, Revision: state.Revision,
		Message: started})
	if !isLoopback(lns[2].Addr()) && cfg.APITLS == nil {
		logger.Warn("the API listens beyond this machine over plain HTTP: the token can be seen on the network; bind it to 127.0.0.1 or put it behind TLS", "api", lns[2].Addr().String())
	}
	if l, err := sched.Ability(); err != nil {
		logger.Info("switch priority", "level", "normal", "note", err.Error())
	} else {
		logger.Info("switch priority", "level", l.String())
	}
	logger.Info("serving", "live", state.Live, "public", lns[0].Addr().String(), "preview", lns[1].Addr().String(),
		"api", lns[2].Addr().String(), "state", cfg.StateDir, "gogc", gogc, "memory_limit", memLimit, "nofile", nofile, "max_connections", publicCap, "preview_max_connections", previewCap, "data_path", dataPath(cfg.Router.DataPath), "gomaxprocs", procs, "event_loops", loops)
	if ready != nil {
		ready(endpoints{Public: lns[0].Addr().String(), Preview: lns[1].Addr().String(), API: lns[2].Addr().String(),
			Live: state.Live, TokenFile: tokenFile, TokenCreated: created, Token: token, APIScheme: apiScheme(cfg)})
	}
	switch {
	case inh != nil:
		inh.signalReady()
		logger.Info("took over from the old serve", "pid", inh.from)
	case own:
		if err := sdNotify("READY=1"); err != nil {
			logger.Warn("telling the service manager that serve is ready", "err", err)
		}
	}

	handedTo := 0
wait:
	for {
		select {
		case <-ctx.Done():
			logger.Info("shutting down")
			break wait
		case err = <-serveErr:
			logger.Error("listener failed; shutting down", "err", err)
			break wait
		case <-hup:
			if cfg.File == "" {
				logger.Warn("SIGHUP: no configuration file to reload")
				continue
			}
			rl.reload(ctx)
		case <-usr2:
			logger.Info("SIGUSR2: handing over to a new serve")
			pid, err := ho.run(ctx)
			if err != nil {
				logger.Error("hand-over failed; this serve carries on", "err", err)
				outcome := bluegreen.OutcomeFailed
				if bluegreen.ErrorCode(err) == bluegreen.ECONFLICT {
					outcome = bluegreen.OutcomeRefused
				}
				_ = store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
					Outcome: outcome, Message: fmt.Sprintf("hand-over to a new serve %s; this serve (pid %d) carries on: %v", outcome, os.Getpid(), err)})
				continue
			}
			handedTo = pid
			break wait
		}
	}
	if handedTo != 0 {
		if err := sdNotify(fmt.Sprintf("MAINPID=%d", handedTo)); err != nil {
			logger.Warn("telling the service manager the new serve's pid", "pid", handedTo, "err", err)
		}
		_ = store.Append(context.WithoutCancel(ctx), bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
			Color: rt.Live(), Outcome: bluegreen.OutcomeOK,
			Message: fmt.Sprintf("serve (pid %d) handed over to pid %d; it finishes its open connections (up to %s) and exits", os.Getpid(), handedTo, cfg.Router.DrainTimeout)})
		retire(ctx, rt, store, []*router.Server{public, preview}, cfg.Router.DrainTimeout, logger)
		cancel()
		wg.Wait()
		logger.Info("handed over; exiting", "to", handedTo)
		return nil
	}
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), cfg.Router.DrainTimeout)
	defer stop()
	for _, srv := range servers {
		if srv.Shutdown(shutdownCtx) != nil {
			_ = srv.Close() // the deadline passed: cut what is still open
		}
	}
	cancel()
	wg.Wait()
	_ = store.Append(context.WithoutCancel(ctx), bluegreen.Event{Time: time.Now(), Actor: "bluegreen",
		Action: bluegreen.ActionServe, Outcome: bluegreen.OutcomeOK, Message: "serve stopped"})
	return err
}

// httpServer is an *http.Server or a router.Server.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// listenAll binds every address or none.
func listenAll(addrs ...string) ([]net.Listener, error) {
	names := []string{"listen", "preview", "api"}
	var lns []net.Listener
	for i, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("%s address %s: %w", names[i], a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// checkStateDir creates the state directory (0700) or checks that an
// existing one is a directory, not a symlink, and not writable by others:
// whoever can write there can plant a token file or a state.
func checkStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking the state directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("the state directory %s is a symlink; point state: at the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("the state directory %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("the state directory %s is writable by others (mode %v); run: chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// ensureToken returns the API token stored in path, creating a random one
// (mode 0600) if the file does not exist. A symlink is refused; a token file
// readable by others is tightened to 0600 with a warning to rotate it.
func ensureToken(path string, logger *slog.Logger) (token string, created bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return "", false, fmt.Errorf("the API token file %s is not a regular file; remove it to get a new token", path)
	case err == nil:
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false, fmt.Errorf("reading the API token: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", false, fmt.Errorf("the API token file %s is empty; delete it to get a new token", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("the API token file was readable by others; set it to 0600. Consider the token leaked: delete the file and restart to get a new one",
				"file", path, "mode", fi.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				return "", false, fmt.Errorf("tightening %s: %w", path, err)
			}
		}
		return token, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("checking the API token file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return "", false, fmt.Errorf("making an API token: %w", err)
	}
	token = hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("creating the API token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("writing the API token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("writing the API token file: %w", err)
	}
	return token, true, f.Close()
}

// isLoopback reports whether addr is a loopback address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// recordAppEvents copies the apps' lifecycle events (starts, crashes,
// restarts) into the history until ctx ends.
func recordAppEvents(ctx context.Context, apps *process.Apps, store bluegreen.Store, logger *slog.Logger) {
	every(ctx, time.Second, func() {
		if evs := apps.Events(); len(evs) > 0 {
			if err := store.Append(context.WithoutCancel(ctx), evs...); err != nil {
				logger.Error("recording app events", "err", err)
			}
		}
	})
}

// every calls f each period, the first time one period from now, until ctx
// ends.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// apiScheme is the API's URL scheme under cfg.
func apiScheme(cfg *config.Config) string {
	if cfg.APITLS != nil {
		return "https"
	}
	return "http"
}

// dataPath is the data path serve runs: the configured one, except that
// the event loop falls back to the goroutine path where it is unavailable.
func dataPath(configured string) string {
	if configured == config.DataPathLoop && !router.EventLoopAvailable() {
		return config.DataPathFast
	}
	return configured
}
