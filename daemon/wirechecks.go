package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/check"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/notify"
)

// checkVerifier runs the configured checks of a color with the check
// package: HTTP checks through the public listener for the live color and
// through the preview listener for the inactive one, so what is verified is
// what serves (or will serve after a switch).
type checkVerifier struct {
	specs           map[bluegreen.Color][]check.Spec
	public, preview string // base URLs
	env             []string
	dir             string // where command checks run when a color has no release
}

func newCheckVerifier(cfg *config.Config, public, preview net.Addr) *checkVerifier {
	v := &checkVerifier{specs: map[bluegreen.Color][]check.Spec{}, public: baseURL(public), preview: baseURL(preview),
		dir: configDir(cfg)}
	if cfg.App != nil {
		v.env = baseEnv(cfg.App)
	} else {
		v.env = baseEnv(&config.App{})
	}
	for _, c := range bluegreen.Colors {
		for _, ch := range cfg.ChecksFor(c) {
			s := check.Spec{Name: ch.Name, Timeout: ch.Timeout, Retries: ch.Retries, Command: ch.Command}
			if h := ch.HTTP; h != nil {
				hc := &check.HTTPCheck{Method: h.Method, Path: h.Path, Body: h.Body, Status: h.Status,
					BodyContains: h.BodyContains, JSONField: h.JSONField, JSONEquals: h.JSONEquals}
				for _, hd := range h.Headers {
					hc.Headers = append(hc.Headers, check.Header{Name: hd.Name, Value: hd.Value})
				}
				s.HTTP = hc
			}
			v.specs[c] = append(v.specs[c], s)
		}
	}
	return v
}

// RunChecks implements controller.Verifier.
func (v *checkVerifier) RunChecks(ctx context.Context, color bluegreen.Color, live bool, dir string, onResult func(bluegreen.CheckResult)) ([]bluegreen.CheckResult, string) {
	u := v.preview
	if live {
		u = v.public
	}
	if dir == "" {
		dir = v.dir
	}
	return check.RunAll(ctx, v.specs[color], check.Subject{Color: color, URL: u, Dir: dir, Env: v.env}, onResult), u
}

// baseURL is the http URL of a listener, with a wildcard host replaced by
// the loopback address (the checks run on this machine).
func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// watchConfig turns the `watch:` section into the controller's; nil when
// the watch is off.
func watchConfig(cfg *config.Config, logger *slog.Logger) *controller.WatchConfig {
	w := cfg.Watch
	if !w.Enabled {
		return nil
	}
	wc := &controller.WatchConfig{Window: w.Window, Interval: w.Interval, MinRequests: int64(w.MinRequests),
		MaxErrorRatio: w.MaxErrorRatio, MaxP99: w.MaxP99, StopPreviousAfter: w.StopPreviousAfter}
	if p := w.Prometheus; p != nil {
		q := check.Prometheus{URL: p.URL, Query: p.Query, Client: &http.Client{Timeout: 10 * time.Second}}
		wc.Probe, wc.ProbeMax, wc.ProbeName = q.Value, p.Max, fmt.Sprintf("prometheus query %q", p.Query)
	}
	return wc
}

// recorder appends events to the store, logging failures.
func recorder(store bluegreen.Store, logger *slog.Logger) func(bluegreen.Event) {
	return func(ev bluegreen.Event) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := store.Append(ctx, ev); err != nil {
			logger.Error("recording an event", "action", ev.Action, "err", err)
		}
	}
}

// notifiers builds what is told about operations: the app's notify hook and
// the configured webhooks. The returned close delivers what is queued (for
// a few seconds) when serve stops.
func notifiers(cfg *config.Config, store bluegreen.Store, logger *slog.Logger) ([]func(bluegreen.Event), func(), error) {
	var (
		out     []func(bluegreen.Event)
		closers []func(context.Context)
	)
	record := recorder(store, logger)
	closeAll := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, c := range closers {
			c(ctx)
		}
	}
	if cfg.App != nil && cfg.App.Hooks.Notify != "" {
		h := notify.NewHook(notify.HookConfig{Command: cfg.App.Hooks.Notify, Dir: configDir(cfg), Env: baseEnv(cfg.App),
			Record: record, Logger: logger})
		out, closers = append(out, h.Notify), append(closers, h.Close)
	}
	if len(cfg.Webhooks) == 0 {
		return out, closeAll, nil
	}
	var hooks []notify.Webhook
	for i, w := range cfg.Webhooks {
		u := w.URL
		if w.URLEnv != "" || w.URLFile != "" {
			var err error
			if u, err = readSecret(cfg, fmt.Sprintf("webhooks[%d] (%s) URL", i, w.Name), config.Secret{Env: w.URLEnv, File: w.URLFile}); err != nil {
				return nil, nil, err
			}
		}
		h := notify.Webhook{Name: w.Name, URL: u, Format: w.Format, On: w.On, Timeout: w.Timeout, Retries: w.Retries}
		if w.Retries == 0 {
			h.Retries = -1 // notify reads 0 as its default; the config's 0 means none
		}
		for _, hd := range w.Headers {
			h.Headers = append(h.Headers, notify.Header{Name: hd.Name, Value: hd.Value})
		}
		hooks = append(hooks, h)
	}
	host, _ := os.Hostname()
	n, err := notify.New(hooks, notify.Options{Logger: logger, Record: record, Source: "bluegreen@" + host})
	if err != nil {
		return nil, nil, invalidf("%s: webhooks: %v", cfg.File, err)
	}
	out = append(out, n.Notify)
	closers = append(closers, func(ctx context.Context) { _ = n.Close(ctx) })
	return out, closeAll, nil
}
