package daemon

import (
	"log/slog"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/router"
)

// newRouter sets up the router of cfg's `router:` section with live as the
// live color; buffered request bodies go to tempDir, and loops is the
// number of event loops per server (tuneProcs).
func newRouter(cfg *config.Config, tempDir string, live bluegreen.Color, loops int, logger *slog.Logger) (*router.Router, error) {
	upstreams := make(map[bluegreen.Color][]string, 2)
	for _, c := range bluegreen.Colors {
		upstreams[c] = cfg.Colors[c].Upstreams
	}
	r := cfg.Router
	return router.New(router.Options{
		ColorPath:            r.ColorPath,
		ColorHeader:          r.ColorHeader,
		MaxRequestBody:       r.MaxRequestBody,
		MaxHeaderBytes:       int(r.MaxHeaderBytes),
		MaxURILength:         int(r.MaxURILength),
		MaxHeaders:           r.MaxHeaders,
		UnderscoresInHeaders: r.UnderscoresInHeaders,
		BufferRequests:       r.BufferRequests,
		BufferMemory:         int(r.BufferMemory),
		BodyDeadline:         r.BodyDeadline,
		BufferResponses:      r.BufferResponses,
		BufferResponseMax:    r.BufferResponseMax,
		TempDir:              tempDir,
		ConnectTimeout:       r.ConnectTimeout,
		ReadHeaderTimeout:    r.ReadHeaderTimeout,
		IdleTimeout:          r.IdleTimeout,
		BodyTimeout:          r.BodyTimeout,
		TrustForwarded:       r.TrustForwardedHeaders,
		ReverseProxyOnly:     r.DataPath == config.DataPathStandard,
		NetHTTPServer:        r.DataPath == config.DataPathStandard,
		EventLoop:            r.DataPath == config.DataPathLoop,
		EventLoops:           loops,
		Logger:               logger,
	}, live, upstreams)
}

// colorPorts returns each color's configured ports.
func colorPorts(cfg *config.Config) map[bluegreen.Color][]int {
	ports := map[bluegreen.Color][]int{}
	for _, c := range bluegreen.Colors {
		ports[c] = cfg.Colors[c].Ports
	}
	return ports
}

// dataPath is the data path serve runs: the configured one, except that
// the event loop falls back to the goroutine path where it is unavailable.
func dataPath(configured string) string {
	if configured == config.DataPathLoop && !router.EventLoopAvailable() {
		return config.DataPathFast
	}
	return configured
}
