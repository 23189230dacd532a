package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/driver/process"
	"github.com/bluegreen/bluegreen/internal/sched"
	"github.com/bluegreen/bluegreen/router"
)

// Run serves until ctx ends, a listener fails (its error is returned) or
// the Daemon handed over to a new process (nil). On SIGHUP it reloads the
// configuration; with Options.Own, SIGUSR2 (or HandOver) hands over. When
// it returns, the listeners it served are closed: after a hand-over, once
// the open connections have finished or the drain timeout passed; after
// ctx ended, once the calls in progress have finished or the drain timeout
// passed. Call Close after it.
func (d *Daemon) Run(ctx context.Context) error {
	if d.member == nil {
		// With several instances the one elected does this as it takes
		// the lead.
		if err := d.ctl.Reclaim(ctx); err != nil {
			return fmt.Errorf("reclaiming a stale lock: %w", err)
		}
		d.ctl.ResumeWatch(ctx)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &running{d: d, ctx: runCtx, serveErr: make(chan error, 1)}
	if d.member != nil {
		memberCtx, stopMember := context.WithCancel(runCtx)
		var member sync.WaitGroup
		member.Add(1)
		go func() { defer member.Done(); d.member.run(memberCtx) }()
		r.stopMember = func() { stopMember(); member.Wait() }
		defer r.stopMember()
	}
	public, preview := d.rt.NewServer(d.rt.Public()), d.rt.NewServer(d.rt.Preview())
	public.SetMaxConnections(d.publicCap)
	preview.SetMaxConnections(d.previewCap)
	r.servers = []httpServer{public, preview, d.newAPIServer()}
	r.stopChecks = r.startChecks()
	defer func() { r.stopChecks() }()
	for i, srv := range r.servers {
		r.startServer(srv, d.lns[i])
	}
	// SIGHUP re-reads the configuration file (see Reload).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d.announce(ctx)

	handedTo, err := r.wait(ctx, hup)
	if handedTo != 0 {
		if r.stopMember != nil {
			// The new process took over the instance's record: this one
			// must no longer write it, nor lead.
			r.stopMember()
		}
		d.retired(ctx, handedTo, []*router.Server{public, preview})
		cancel()
		r.wg.Wait()
		d.logger.Info("handed over; exiting", "to", handedTo)
		return nil
	}
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Router.DrainTimeout)
	defer stop()
	for _, srv := range r.servers {
		if srv.Shutdown(shutdownCtx) != nil {
			_ = srv.Close() // the deadline passed: cut what is still open
		}
	}
	cancel()
	r.wg.Wait()
	if d.member != nil && d.member.unreachable() {
		// A serve asked to stop stops now, not after the store's timeout.
		d.logger.Warn("not recording that serve stopped: the state store is unreachable")
	} else {
		_ = d.store.Append(context.WithoutCancel(ctx), bluegreen.Event{Time: time.Now(), Actor: "bluegreen",
			Action: bluegreen.ActionServe, Outcome: bluegreen.OutcomeOK, Message: "serve stopped"})
	}
	return err
}

// running is what Run keeps while it serves.
type running struct {
	d          *Daemon
	ctx        context.Context // ends when Run returns
	servers    []httpServer    // public, preview, API
	wg         sync.WaitGroup  // the servers' goroutines
	serveErr   chan error      // the first server that failed
	stopChecks func()          // stops the health checks and the app event recorder
	stopMember func()          // with etcd state: ends the membership's work and waits (idempotent)
}

// startChecks starts the health checks and the app event recorder; they
// stop for a hand-over (and start again if it fails). The returned
// function stops them and records the app events not copied yet.
func (r *running) startChecks() (stop func()) {
	d := r.d
	checksCtx, stopChecks := context.WithCancel(r.ctx)
	var checks sync.WaitGroup
	checks.Add(1)
	go func() { defer checks.Done(); d.monitor.Run(checksCtx) }()
	if d.apps != nil {
		checks.Add(1)
		go func() { defer checks.Done(); recordAppEvents(checksCtx, d.apps, d.store, d.logger) }()
	}
	return func() {
		stopChecks()
		checks.Wait()
		if d.apps != nil {
			// What the recorder had not copied yet: a serve that takes
			// over (or starts after this one) begins after it.
			if evs := d.apps.Events(); len(evs) > 0 {
				if err := d.store.Append(context.WithoutCancel(r.ctx), evs...); err != nil {
					d.logger.Error("recording app events", "err", err)
				}
			}
		}
	}
}

// startServer serves srv on ln in a goroutine of r.wg; its failure goes to
// r.serveErr.
func (r *running) startServer(srv httpServer, ln net.Listener) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		serve := srv.Serve
		if api, ok := srv.(*http.Server); ok && r.d.cfg.APITLS != nil {
			serve = func(ln net.Listener) error { return api.ServeTLS(ln, r.d.cfg.APITLS.Cert, r.d.cfg.APITLS.Key) }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case r.serveErr <- fmt.Errorf("serving %s: %w", ln.Addr(), err):
			default: // one is enough to shut down
			}
		}
	}()
}

// wait runs the signals until ctx ends, a listener fails (its error) or a
// hand-over succeeded (the new process's pid).
func (r *running) wait(ctx context.Context, hup <-chan os.Signal) (handedTo int, err error) {
	d := r.d
	for {
		select {
		case <-ctx.Done():
			d.logger.Info("shutting down")
			return 0, nil
		case err := <-r.serveErr:
			d.logger.Error("listener failed; shutting down", "err", err)
			return 0, err
		case <-hup:
			d.Reload(ctx)
		case <-d.usr2:
			d.logger.Info("SIGUSR2: handing over to a new serve")
			pid, err := r.handover().run(ctx)
			if err == nil {
				return pid, nil
			}
			d.logger.Error("hand-over failed; this serve carries on", "err", err)
			outcome := bluegreen.OutcomeFailed
			if bluegreen.ErrorCode(err) == bluegreen.ECONFLICT {
				outcome = bluegreen.OutcomeRefused
			}
			_ = d.store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
				Outcome: outcome, Message: fmt.Sprintf("hand-over to a new serve %s; this serve (pid %d) carries on: %v", outcome, os.Getpid(), err)})
		}
	}
}

// handover is the old process's side of a hand-over from r.
func (r *running) handover() *handover {
	d := r.d
	return &handover{lns: d.lns, ctl: d.ctl, logger: d.logger, timeout: d.cfg.Router.DrainTimeout + 5*time.Second,
		stopAPI: func(ctx context.Context) error { return r.servers[2].Shutdown(ctx) },
		startAPI: func(ln net.Listener) {
			r.servers[2] = d.newAPIServer()
			r.startServer(r.servers[2], ln)
		},
		pauseChecks: func() func() {
			r.stopChecks()
			return func() { r.stopChecks = r.startChecks() }
		},
		recover: func(ctx context.Context) error {
			st, err := d.ctl.Refresh(ctx)
			if err != nil {
				return fmt.Errorf("reloading the state the new serve may have changed: %w", err)
			}
			if st.Live != d.rt.Live() {
				d.rt.Switch(st.Live)
			}
			// The new serve's configuration may have changed the colors:
			// the state must say what this serve's router runs.
			d.reloadMu.Lock()
			defer d.reloadMu.Unlock()
			if _, err := d.ctl.Reconfigure(ctx, colorSpecs(d.rl.running)); err != nil {
				return fmt.Errorf("restoring this serve's colors in the state: %w", err)
			}
			return nil
		},
	}
}

// announce records and logs that the Daemon serves, calls Options.Ready and
// tells the old process of a hand-over, or the service manager, that it is
// ready.
func (d *Daemon) announce(ctx context.Context) {
	cfg, lns, live := d.cfg, d.lns, d.state.Live
	started := fmt.Sprintf("serve started (pid %d, version %s); %s is live", os.Getpid(), d.opts.Version, live)
	if d.inh != nil {
		started += fmt.Sprintf("; took over from pid %d", d.inh.from)
	}
	_ = d.store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
		Color: live, Outcome: bluegreen.OutcomeOK, Revision: d.state.Revision, Message: started})
	if !isLoopback(lns[2].Addr()) && cfg.APITLS == nil {
		d.logger.Warn("the API listens beyond this machine over plain HTTP: the token can be seen on the network; bind it to 127.0.0.1 or put it behind TLS", "api", lns[2].Addr().String())
	}
	if l, err := sched.Ability(); err != nil {
		d.logger.Info("switch priority", "level", "normal", "note", err.Error())
	} else {
		d.logger.Info("switch priority", "level", l.String())
	}
	state := cfg.StateDir
	if cfg.Etcd != nil {
		state = cfg.Etcd.String() + " (local files in " + cfg.StateDir + ")"
	}
	d.logger.Info("serving", append([]any{"live", live, "public", lns[0].Addr().String(), "preview", lns[1].Addr().String(),
		"api", lns[2].Addr().String(), "state", state}, d.tuning...)...)
	if d.opts.Ready != nil {
		d.opts.Ready(Endpoints{Public: lns[0].Addr().String(), Preview: lns[1].Addr().String(), API: lns[2].Addr().String(),
			Live: live, TokenFile: d.tokenFile, TokenCreated: d.tokenCreated, Token: d.token, APIScheme: APIScheme(cfg)})
	}
	switch {
	case d.inh != nil:
		d.inh.signalReady()
		d.logger.Info("took over from the old serve", "pid", d.inh.from)
	case d.opts.Own:
		if err := sdNotify("READY=1"); err != nil {
			d.logger.Warn("telling the service manager that serve is ready", "err", err)
		}
	}
}

// retired ends the old process's part after a hand-over to pid: it tells
// the service manager and the history, then retires the data-plane
// servers (see retire).
func (d *Daemon) retired(ctx context.Context, pid int, servers []*router.Server) {
	if d.member != nil {
		// The new process took over the instance's record: it leads next.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		if err := d.member.in.Resign(rctx); err != nil {
			d.logger.Warn("giving up the lead to the new serve", "err", err)
		}
		cancel()
	}
	if err := sdNotify(fmt.Sprintf("MAINPID=%d", pid)); err != nil {
		d.logger.Warn("telling the service manager the new serve's pid", "pid", pid, "err", err)
	}
	_ = d.store.Append(context.WithoutCancel(ctx), bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
		Color: d.rt.Live(), Outcome: bluegreen.OutcomeOK,
		Message: fmt.Sprintf("serve (pid %d) handed over to pid %d; it finishes its open connections (up to %s) and exits", os.Getpid(), pid, d.cfg.Router.DrainTimeout)})
	retire(ctx, d.rt, d.store, servers, d.cfg.Router.DrainTimeout, d.logger)
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
