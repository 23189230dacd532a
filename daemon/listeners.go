package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/driver/process"
	"github.com/bluegreen/bluegreen/router"
)

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

// isLoopback reports whether addr is a loopback address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// closeAll closes each listener of lns that is not nil.
func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
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

// APIScheme is the API's URL scheme under cfg: "https" when it serves TLS,
// else "http".
func APIScheme(cfg *config.Config) string {
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
