package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/check"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/router"
)

// reloader applies a re-read configuration file to a running serve (on
// SIGHUP): each color's branch, upstreams and health check take effect at
// once; every other setting needs a restart, and the reload says which.
type reloader struct {
	path    string
	running *config.Config // what serve runs with now
	ctl     *controller.Controller
	rt      *router.Router
	monitor *check.Monitor
	store   bluegreen.Store
	logger  *slog.Logger
	// records says whether this instance records the colors in the state;
	// nil means it always does. With several instances only the leader
	// does: the others apply the upstreams and health checks to their own
	// router and leave the shared state alone.
	records func() bool
}

// reload re-reads the file and applies what it can. A file that does not
// load, or that others than its owner can write (config.CheckMode), changes
// nothing; the error (file:line:col) is logged and recorded.
func (r *reloader) reload(ctx context.Context) {
	record := func(outcome bluegreen.Outcome, msg string) {
		r.logger.Info("reload", "outcome", outcome, "msg", msg)
		if err := r.store.Append(context.WithoutCancel(ctx), bluegreen.Event{Time: time.Now(), Actor: "bluegreen (reload)",
			Action: bluegreen.ActionConfig, Outcome: outcome, Message: msg}); err != nil {
			r.logger.Error("recording the reload", "err", err)
		}
	}
	if err := config.CheckMode(r.path); err != nil {
		record(bluegreen.OutcomeRefused, "reload refused, nothing changed: "+err.Error())
		return
	}
	next, err := config.Load(r.path)
	if err != nil {
		record(bluegreen.OutcomeRefused, "reload refused, nothing changed: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	recorded := r.records == nil || r.records()
	if recorded {
		if _, err := r.ctl.Reconfigure(ctx, colorSpecs(next)); err != nil {
			record(bluegreen.OutcomeFailed, "reload failed: "+err.Error())
			return
		}
	}
	failed := false
	for _, c := range bluegreen.Colors {
		up, hc := next.Colors[c], r.running.Colors[c]
		if slices.Equal(up.Upstreams, hc.Upstreams) && slices.Equal(up.HostNames(), hc.HostNames()) && reflect.DeepEqual(up.Health, hc.Health) {
			continue // compared with what the router and the monitor run now
		}
		if err := r.rt.SetUpstreams(c, up.Upstreams); err != nil {
			record(bluegreen.OutcomeFailed, fmt.Sprintf("reload: the router refused %s's upstreams %v: %v", c, up.Upstreams, err))
			failed = true
			continue
		}
		r.monitor.SetTarget(c, healthTarget(up, next.App))
	}
	if failed {
		// r.running stays: the next reload compares against what the router
		// really runs and tries again.
		return
	}
	msg := "configuration reloaded"
	if !recorded {
		msg += " (by an instance that does not lead: its router and health checks use it; the colors in the shared state are the leader's)"
	}
	if rest := needsRestart(r.running, next); len(rest) > 0 {
		msg += "; these settings changed but take effect only when serve restarts: " + strings.Join(rest, ", ")
	}
	r.running = next
	record(bluegreen.OutcomeOK, msg)
}

// colorSpecs returns what the controller keeps of cfg's colors.
func colorSpecs(cfg *config.Config) map[bluegreen.Color]controller.ColorSpec {
	specs := make(map[bluegreen.Color]controller.ColorSpec, len(bluegreen.Colors))
	for _, c := range bluegreen.Colors {
		specs[c] = controller.ColorSpec{Branch: cfg.Colors[c].Branch, Upstreams: cfg.Colors[c].Upstreams}
	}
	return specs
}

// needsRestart names the settings that differ between a and b other than
// the colors' branches, upstreams (or hosts) and health checks.
func needsRestart(a, b *config.Config) []string {
	var out []string
	ac, bc := *a, *b
	ac.Colors, bc.Colors = nil, nil
	va, vb := reflect.ValueOf(ac), reflect.ValueOf(bc)
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		if name == "File" {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	for _, c := range bluegreen.Colors {
		x, y := *a.Colors[c], *b.Colors[c]
		x.Branch, x.Upstreams, x.Hosts, x.Health = "", nil, nil, config.HealthCheck{}
		y.Branch, y.Upstreams, y.Hosts, y.Health = "", nil, nil, config.HealthCheck{}
		if !reflect.DeepEqual(x, y) {
			out = append(out, string(c)+" (ports, checks)")
		}
	}
	return out
}

// healthTarget is the health monitor's target for a color's settings; app
// is the app section (nil without one): a color of hosts run by agents
// with min_healthy passes a round with that many hosts.
func healthTarget(cc *config.Color, app *config.App) check.Target {
	h := cc.Health
	t := check.Target{Upstreams: cc.Upstreams, Hosts: cc.HostNames(), Spec: check.HTTPSpec{
		Path: h.Path, Status: h.Status, Interval: h.Interval, Timeout: h.Timeout,
		HealthyThreshold: h.HealthyThreshold, UnhealthyThreshold: h.UnhealthyThreshold}}
	if app != nil && app.Driver == config.DriverProcess && len(cc.Hosts) > 0 {
		t.MinPass = app.MinHealthy
	}
	return t
}
