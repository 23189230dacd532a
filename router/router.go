package router

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultColorPath         = "/deployment/color/"
	DefaultConnectTimeout    = 5 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 90 * time.Second
	DefaultBodyTimeout       = 60 * time.Second
)

// Options configure a Router. The zero value is usable: zero fields take the
// defaults above, except ColorHeader, which is off when false.
type Options struct {
	// ColorPath is the path (exact match) the router answers itself with the
	// live color, on both listeners. Default DefaultColorPath.
	ColorPath string
	// ColorHeader adds "X-Bluegreen-Color: <color>" to every proxied
	// response and to the router's own error answers.
	ColorHeader bool
	// MaxRequestBody, when > 0, caps request bodies: a larger Content-Length
	// is answered 413 at once; a chunked body that grows past it is cut and
	// answered 413.
	MaxRequestBody int64
	// MaxHeaderBytes caps a request's head (request line, header lines
	// and the blank line): a larger one is answered 431 and its
	// connection closed. MaxURILength caps the request target (414),
	// MaxHeaders the number of header lines (431). The same limits hold
	// on every data path (vetHead). Defaults DefaultMaxHeaderBytes,
	// DefaultMaxURILength and DefaultMaxHeaders.
	MaxHeaderBytes int
	MaxURILength   int
	MaxHeaders     int
	// ConnectTimeout bounds opening a connection to an upstream.
	ConnectTimeout time.Duration
	// ReadHeaderTimeout and IdleTimeout configure the servers made by
	// NewServer (slow clients, idle kept-alive connections).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// BodyTimeout bounds each wait for more of a request body: a client
	// that sends none of the rest of its body for this long is answered
	// 408 (or, once the response has begun, cut) and its connection
	// closed, so that a slow body cannot pin a connection and an
	// upstream's (nginx's client_body_timeout). A wait for the upstream to
	// take what was sent is not counted. It bounds each wait for bytes on
	// the connection, on every path (bodyClock), so a chunk trickling in
	// steadily passes. Default DefaultBodyTimeout.
	BodyTimeout time.Duration
	// BufferRequests reads each request body whole before the app sees
	// the request (see buffer.go): in memory up to BufferMemory (default
	// DefaultBufferMemory), the rest in a temp file in TempDir (default
	// os.TempDir()), the whole body within BodyDeadline (default
	// DefaultBodyDeadline; 408 after it). Upgrades are not buffered.
	BufferRequests bool
	BufferMemory   int
	BodyDeadline   time.Duration
	TempDir        string
	// BufferResponses reads an answer with a length up to
	// BufferResponseMax (default DefaultBufferResponseMax) from the app at
	// the app's speed (see buffer.go): BufferMemory of it in memory, the
	// rest in a temp file in TempDir. Other answers stream.
	BufferResponses   bool
	BufferResponseMax int64
	// TrustForwarded keeps the client's X-Forwarded-For (appending the
	// client address), X-Forwarded-Host, X-Forwarded-Proto and Forwarded
	// headers; set it only behind a proxy you trust. When false they are
	// replaced.
	TrustForwarded bool
	// UnderscoresInHeaders forwards request headers whose names hold an
	// underscore. By default they are dropped, as nginx does
	// (underscores_in_headers off): WSGI and CGI servers read
	// "X_Forwarded_For" as X-Forwarded-For, so a client could pass off its
	// own.
	UnderscoresInHeaders bool
	// Logger receives upstream errors and server errors; nil discards.
	Logger *slog.Logger
	// ReverseProxyOnly forwards every request with httputil.ReverseProxy
	// over an http.Transport. By default plain HTTP/1.x requests go through
	// the router's own HTTP/1.1 client instead (forwarded on the request's
	// goroutine over pooled upstream connections, which is faster), and
	// only upgrades, "Expect: 100-continue", request trailers and unusual
	// methods use ReverseProxy.
	ReverseProxyOnly bool
	// NetHTTPServer serves client connections with net/http's server only.
	// By default the router's Server reads plain HTTP/1.1 requests itself
	// (no background read per request, which is faster) and hands every
	// other connection to net/http; see Server.
	NetHTTPServer bool
	// EventLoop serves client connections on one event loop per server
	// (Linux; epoll) instead of a goroutine per connection: the loop
	// forwards plain HTTP/1.1 requests itself (those router.Server's fast
	// path takes, without a chunked body) over its own upstream
	// connections, and hands a connection whose next request is anything
	// else to the goroutine path. Fewer system calls and wake-ups per
	// request; see evloop. Ignored where unavailable and with
	// NetHTTPServer.
	EventLoop bool
	// EventLoops is how many event loops each server runs, its
	// connections spread round-robin over them. Each loop's goroutine
	// keeps a P (GOMAXPROCS) busy in system calls while it has work, so
	// the rest of the process (API, health checks, the garbage collector)
	// needs Ps of its own: 0 means half of GOMAXPROCS (at least one).
	// serve raises GOMAXPROCS to twice the cores and runs a loop per core
	// unless told otherwise (`router.event_loops`).
	EventLoops int
}

// EventLoopAvailable reports whether Options.EventLoop has an effect on
// this platform (Linux); elsewhere the goroutine path serves.
func EventLoopAvailable() bool { return loopAvailable }

// Router is the data plane: the public handler proxies to the live color,
// the preview handler to the other one. All methods are safe for concurrent
// use; the request path takes no lock.
type Router struct {
	opts Options
	log  *slog.Logger
	fw   forwarding // from opts

	table atomic.Pointer[table]
	pools [2]atomic.Pointer[pool]
	stats [2]colorStats
	eng   engine

	switchMu sync.Mutex // serialises Switch; never taken by requests

	loopsMu sync.Mutex
	loops   map[*evloop]struct{} // the servers' event loops

	public, preview http.Handler
	drainCut        [2]errorBody
}

// table is the immutable routing table; Switch replaces it.
type table struct {
	live   colorIdx
	public *generation // the live color's current generation
	since  time.Time   // when live began to get new requests
}

// New returns a Router with live serving public traffic and the given
// upstreams (host:port) per color. A color may have no upstreams yet; its
// requests are answered 502 until SetUpstreams gives it some. It returns an
// EINVALID error for an invalid color, address or option.
func New(opts Options, live bluegreen.Color, upstreams map[bluegreen.Color][]string) (*Router, error) {
	if !live.Valid() {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "router: invalid live color %q", string(live))
	}
	if opts.ColorPath == "" {
		opts.ColorPath = DefaultColorPath
	}
	if !strings.HasPrefix(opts.ColorPath, "/") {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "router: color path %q must start with /", opts.ColorPath)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.BufferMemory <= 0 {
		opts.BufferMemory = DefaultBufferMemory
	}
	if opts.BufferResponseMax <= 0 {
		opts.BufferResponseMax = DefaultBufferResponseMax
	}
	if opts.BodyDeadline <= 0 {
		opts.BodyDeadline = DefaultBodyDeadline
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.EventLoops <= 0 {
		opts.EventLoops = max(1, runtime.GOMAXPROCS(0)/2)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "router")
	rt := &Router{opts: opts, log: log, fw: forwarding{trust: opts.TrustForwarded, underscores: opts.UnderscoresInHeaders}}
	for c := range upstreams {
		if !c.Valid() {
			return nil, bluegreen.Errorf(bluegreen.EINVALID, "router: upstreams for invalid color %q", string(c))
		}
	}
	for i, c := range bluegreen.Colors {
		p, err := newPool(colorIdx(i), upstreams[c])
		if err != nil {
			return nil, err
		}
		rt.pools[i].Store(p)
		rt.drainCut[i] = newErrorBody("bluegreen: " + c.String() + " request cut at the drain deadline\n")
	}
	li := indexOf(live)
	rt.table.Store(&table{live: li, public: newGeneration(li), since: time.Now()})
	if opts.ReverseProxyOnly {
		rt.eng = newProxyEngine(opts.ConnectTimeout, rt.fw, log)
	} else {
		rt.eng = newDirectEngine(opts.ConnectTimeout, rt.fw, log)
	}
	rt.public = &handler{rt: rt}
	rt.preview = &handler{rt: rt, preview: true}
	return rt, nil
}

// Public returns the handler of the public listener: it proxies to the live
// color and answers the color path.
func (rt *Router) Public() http.Handler { return rt.public }

// Preview returns the handler of the preview listener: it proxies to the
// color that is not live, and answers the color path with the live color.
func (rt *Router) Preview() http.Handler { return rt.preview }

// Live returns the color that new public requests go to.
func (rt *Router) Live() bluegreen.Color { return rt.table.Load().live.color() }

// LiveSince returns the live color and when it began to get new requests
// (the last Switch that changed it, else when the Router was made), read
// together. Safe for concurrent use.
func (rt *Router) LiveSince() (bluegreen.Color, time.Time) {
	t := rt.table.Load()
	return t.live.color(), t.since
}

// SetUpstreams replaces the upstreams of color c. Requests that start after
// it returns use the new set; requests in flight finish where they are.
// Idle connections to addresses that neither color uses any more are
// closed.
// It returns an EINVALID error for an invalid color or address and then
// changes nothing.
func (rt *Router) SetUpstreams(c bluegreen.Color, addrs []string) error {
	if !c.Valid() {
		return bluegreen.Errorf(bluegreen.EINVALID, "router: invalid color %q", string(c))
	}
	p, err := newPool(indexOf(c), addrs)
	if err != nil {
		return err
	}
	rt.pools[indexOf(c)].Store(p)
	// Close the idle connections to addresses no color uses any more.
	inUse := func(addr string) bool {
		for i := range rt.pools {
			for _, u := range rt.pools[i].Load().ups {
				if u.addr == addr {
					return true
				}
			}
		}
		return false
	}
	if d, ok := rt.eng.(*directEngine); ok {
		d.conns.prune(inUse)
	}
	rt.eachLoop(func(l *evloop) { l.post(func() { l.closeIdle(inUse) }) })
	return nil
}

func (rt *Router) addLoop(l *evloop) {
	rt.loopsMu.Lock()
	defer rt.loopsMu.Unlock()
	if rt.loops == nil {
		rt.loops = map[*evloop]struct{}{}
	}
	rt.loops[l] = struct{}{}
}

func (rt *Router) removeLoop(l *evloop) {
	rt.loopsMu.Lock()
	defer rt.loopsMu.Unlock()
	delete(rt.loops, l)
}

func (rt *Router) eachLoop(f func(*evloop)) {
	rt.loopsMu.Lock()
	defer rt.loopsMu.Unlock()
	for l := range rt.loops {
		f(l)
	}
}

// Upstreams returns a copy of color c's current upstreams (nil for an
// invalid color).
func (rt *Router) Upstreams(c bluegreen.Color) []string {
	if !c.Valid() {
		return nil
	}
	return rt.pools[indexOf(c)].Load().addrs()
}

// Stats returns a snapshot of both colors' counters.
func (rt *Router) Stats() map[bluegreen.Color]ColorStats {
	return map[bluegreen.Color]ColorStats{
		bluegreen.Blue:  rt.stats[0].snapshot(),
		bluegreen.Green: rt.stats[1].snapshot(),
	}
}

// NewServer returns a Server for one of the router's handlers with the
// slow-client protections from Options (ReadHeaderTimeout, IdleTimeout)
// and its error log sent to the router's logger. It sets no read or write
// timeout, so streams and WebSockets may stay open. With
// Options.NetHTTPServer it serves every connection with net/http alone.
// The caller calls Serve and owns Shutdown.
func (rt *Router) NewServer(h http.Handler) *Server {
	s := newServer(h, rt.opts.ReadHeaderTimeout, rt.opts.IdleTimeout, rt.log)
	s.setLimits(headLimits{maxBytes: rt.opts.MaxHeaderBytes, maxURI: rt.opts.MaxURILength, maxHeaders: rt.opts.MaxHeaders})
	s.stdOnly = rt.opts.NetHTTPServer
	_, s.selfCancel = h.(*handler)
	s.useLoop = rt.opts.EventLoop && loopAvailable && s.selfCancel && !s.stdOnly && !rt.opts.ReverseProxyOnly
	return s
}

// Close closes the idle connections to upstreams. The router stays usable:
// later requests open new connections. Draining requests in flight is the
// job of the servers' Shutdown and of Drain.Wait.
func (rt *Router) Close() {
	rt.eng.closeIdle()
	rt.eachLoop(func(l *evloop) { l.post(func() { l.closeIdle(nil) }) })
}

// acquire returns the live generation with the request counted in it. If a
// switch retires the generation between loading the table and counting,
// the new table is already stored, so the loop ends on the next round.
func (rt *Router) acquire() *generation {
	for {
		g := rt.table.Load().public
		if g.acquire() {
			return g
		}
	}
}

type handler struct {
	rt      *Router
	preview bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == h.rt.opts.ColorPath {
		h.rt.serveColor(w, req)
		return
	}
	h.rt.serve(w, req, h.preview)
}

// serve routes one request: it picks the generation (public) or color
// (preview) at the start, counts it, and hands it to the engine.
func (rt *Router) serve(w http.ResponseWriter, req *http.Request, preview bool) {
	c := rt.begin(req.Context(), preview)
	if fw, ok := w.(*fastResponse); ok {
		fw.c.cancelOnGone(c)
	}
	defer c.finish()

	if req.Method == http.MethodConnect {
		// A tunnel is a forward proxy's business, not an app's: it
		// never reaches the upstream. 501 rather than 405, which would
		// owe an Allow list of the app's methods (RFC 9110 15.5.6).
		c.refuse(http.StatusNotImplemented)
		rt.writeError(w, c.color, c.status, connectRefused, true)
		return
	}
	if up := req.Header["Upgrade"]; up != nil && onlyH2C(up) {
		stripH2C(req.Header)
	}
	if len(c.pool.ups) == 0 {
		c.fail(w, errNoUpstreams)
		return
	}
	c.up, c.seq = c.pool.pick()

	if limit := rt.opts.MaxRequestBody; limit > 0 {
		if req.ContentLength > limit {
			c.refuse(http.StatusRequestEntityTooLarge)
			rt.writeError(w, c.color, c.status, bodyTooLarge, true)
			return
		}
		if req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody {
			// As http.MaxBytesReader: the handler's request is the one
			// forwarded, with its body behind the limit.
			c.body = &limitedBody{rc: req.Body, left: limit, limit: limit}
			req.Body = c.body
		}
	}
	var body *clientBody
	if req.Body != nil && req.Body != http.NoBody {
		// Each read of the body has BodyTimeout, and a body that cannot
		// be read is noted as the client's fault. On a copy of the
		// request: net/http's server looks at its own request's body
		// after the handler (an unread Expect: 100-continue body must not
		// be waited for).
		r2 := new(http.Request)
		*r2 = *req
		cb := &clientBody{rc: req.Body, c: c, timeout: rt.opts.BodyTimeout}
		if fw, ok := w.(*fastResponse); ok {
			cb.clock = &fw.c.clock
		} else if k, ok := req.Context().Value(bodyClockKey{}).(*bodyClock); ok {
			cb.clock = k
		} else {
			cb.ctl = http.NewResponseController(w)
		}
		if cb.clock != nil {
			defer cb.clock.stop(false) // a body left unread: the call is over
		}
		r2.Body = cb
		req = r2
		body = cb
	}

	if c.gen != nil {
		// The drain of the generation cancels the requests still open at
		// its deadline.
		c.reg = true
		c.gen.register(c, c.seq)
	}
	if body != nil && rt.opts.BufferRequests && req.Header["Upgrade"] == nil {
		r2, sp, err := rt.bufferRequest(req, c, body)
		if err != nil {
			c.fail(w, err)
			return
		}
		defer sp.Close()
		req = r2
	}
	rt.eng.forward(w, req, c)
}

// begin starts the record of a request whose own context is parent: it
// picks the live generation (public) or the other color (preview), counts
// the request in it and loads the color's upstreams. The caller ends it
// with finish.
func (rt *Router) begin(parent context.Context, preview bool) *call {
	c := newCall(rt, parent)
	rt.start(c, preview)
	return c
}

// start is begin for c, a new call or one reset for reuse.
func (rt *Router) start(c *call, preview bool) {
	if preview {
		c.color = rt.table.Load().live.other()
	} else {
		g := rt.acquire()
		c.mu.Lock() // a stale cancelIn may be looking (a reused call)
		c.gen = g
		c.mu.Unlock()
		c.color = g.color
	}
	rt.stats[c.color].inFlight.Add(1)
	c.start = time.Now()
	c.pool = rt.pools[c.color].Load()
}

var errNoUpstreams = errorString("no upstreams")

type errorString string

func (e errorString) Error() string { return string(e) }

// onlyH2C reports whether an Upgrade header asks for h2c alone: HTTP/2
// over cleartext, which the router does not speak. Forwarded, an app that
// takes it would turn the connection into a tunnel the router cannot
// read (no X-Forwarded-For replaced inside it), so it is dropped and the
// request served as HTTP/1.1, as RFC 9110 7.8 lets a server ignore it.
func onlyH2C(vv []string) bool {
	for _, v := range vv {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if !strings.EqualFold(strings.TrimSpace(t), "h2c") {
				return false
			}
		}
	}
	return true
}

// stripH2C removes an h2c upgrade from h: Upgrade, HTTP2-Settings and
// their names in Connection.
func stripH2C(h http.Header) {
	delete(h, "Upgrade")
	delete(h, "Http2-Settings")
	conn := h["Connection"]
	if conn == nil {
		return
	}
	var keep []string
	for _, v := range conn {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			t = strings.TrimSpace(t)
			if t != "" && !strings.EqualFold(t, "Upgrade") && !strings.EqualFold(t, "HTTP2-Settings") {
				keep = append(keep, t)
			}
		}
	}
	if keep == nil {
		delete(h, "Connection")
	} else {
		h["Connection"] = []string{strings.Join(keep, ", ")}
	}
}
