package router

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// directEngine forwards plain HTTP/1.x requests on the handler's own
// goroutine over pooled kept-alive upstream connections: it writes the
// request itself, reads the response with http.ReadResponse and copies the
// body, with no Transport goroutines and no hand-offs between them. What
// it does not handle (upgrades, Expect: 100-continue, request trailers,
// other methods, HTTP/2 clients) goes to the ReverseProxy engine.
//
// Connections are reused only after a response read to its end, when
// neither side asked to close. A request that fails on a reused idle
// connection before any response byte arrived is sent again, once, on a
// fresh connection, if it had no body or is idempotent and its body was
// not read yet; anything else is answered 502.
type directEngine struct {
	fallback *proxyEngine
	conns    connPools
	buffers  bufferPool
	fw       forwarding
}

func newDirectEngine(connectTimeout time.Duration, fw forwarding, log *slog.Logger) *directEngine {
	e := &directEngine{fallback: newProxyEngine(connectTimeout, fw, log), fw: fw}
	e.conns.dialer = net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	return e
}

func (e *directEngine) closeIdle() {
	e.fallback.closeIdle()
	e.conns.closeIdle()
}

var errUnexpected101 = errors.New("upstream switched protocols on a request that did not ask to")

// errBadStatus is an upstream answer whose status is not one HTTP has
// (100-599): the router answers 502 instead of passing it on (net/http's
// writer would refuse it, or a client misread it).
var errBadStatus = errors.New("upstream answered a status outside 100-599")

// readResponse is http.ReadResponse refusing a status outside 100-599
// (errBadStatus), which ReadResponse takes from any three digits.
func readUpstreamResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	res, err := http.ReadResponse(br, req)
	if err == nil && (res.StatusCode < 100 || res.StatusCode > 599) {
		return nil, errBadStatus
	}
	return res, err
}

// exchange is the state of one request on the direct path. It lives on the
// handler's stack.
type exchange struct {
	c        *call
	req      *http.Request
	w        http.ResponseWriter
	pc       *upConn
	br       *bufio.Reader
	hasBody  bool
	bodyRead bool // the request body was read from (it cannot be sent again)
	bodyErr  bool // reading the client's body failed
	noReuse  bool
}

func (e *directEngine) forward(w http.ResponseWriter, r *http.Request, c *call) {
	if !plain(r) {
		e.fallback.forward(w, r, c)
		return
	}
	x := exchange{c: c, req: r, w: w, hasBody: r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody}
	res, err := e.send(&x)
	if err != nil {
		x.abandon()
		c.fail(w, err)
		return
	}
	e.respond(w, &x, res)
}

// plain reports whether the direct path may forward r.
func plain(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.Trailer != nil {
		return false
	}
	if !commonMethod(r.Method) {
		return false
	}
	h := r.Header
	if h["Upgrade"] != nil || h["Expect"] != nil {
		return false
	}
	return !listed(h["Connection"], "Upgrade")
}

// send writes the request and reads the response head, retrying once on a
// fresh connection when a reused one turned out to be dead.
func (e *directEngine) send(x *exchange) (*http.Response, error) {
	cp := e.conns.pool(x.c.up.addr)
	pc := cp.get(x.c.start)
	// Make sure an idle connection is still open and has nothing to read:
	// the upstream may have closed it while idle (it restarted, or timed
	// the connection out), and bytes nobody asked for (a second response)
	// would be taken for this request's answer, and the answer after it
	// for the next one's: another client's data. It costs one system call.
	for pc != nil && !alive(pc.nc) {
		pc.nc.Close()
		pc = cp.get(x.c.start)
	}
	for attempt := 0; ; attempt++ {
		if pc == nil {
			var err error
			if pc, err = e.dial(x.c); err != nil {
				return nil, err
			}
		}
		x.attach(pc)
		res, retry, err := e.try(x)
		if err == nil {
			return res, nil
		}
		x.abandon()
		if !retry || attempt > 0 {
			return nil, err
		}
		pc = nil
	}
}

// dial opens a connection to c.up, moving on to the color's other
// upstreams while the connection is refused (nothing was sent: safe for
// any method).
func (e *directEngine) dial(c *call) (*upConn, error) {
	pc, err := e.conns.dial(c, e.conns.pool(c.up.addr))
	if err == nil || c.pool == nil {
		return pc, err
	}
	n := uint64(len(c.pool.ups))
	for i := uint64(1); i < n && isDialError(err) && c.Err() == nil; i++ {
		c.up = c.pool.ups[(c.seq+i)%n]
		if pc, err = e.conns.dial(c, e.conns.pool(c.up.addr)); err == nil {
			return pc, nil
		}
	}
	return nil, err
}

// try sends the request on x.pc and reads the response head. retry says
// whether the failure happened on a reused connection before any response
// byte, for a request that can be sent again.
func (e *directEngine) try(x *exchange) (res *http.Response, retry bool, err error) {
	bw := getWriter(x.pc.nc)
	err = e.writeRequest(bw, x)
	putWriter(bw)
	// Only a safe request is sent again (RFC 9110 9.2.2): one that reached
	// the upstream may have been acted on, body or no body.
	canRetry := x.pc.reused && x.c.Err() == nil && idempotent(x.req.Method) && !x.bodyRead
	if err != nil {
		if x.bodyErr || !x.hasBody {
			return nil, canRetry && !x.bodyErr, err
		}
		// The upstream may have answered without reading the whole body:
		// forward that answer, but do not reuse the connection.
		x.noReuse = true
	}
	x.br = getReader(x.pc.nc)
	if _, perr := x.br.Peek(1); perr != nil {
		if err == nil {
			err = perr
		}
		return nil, canRetry, err
	}
	res, rerr := readUpstreamResponse(x.br, x.req)
	if rerr != nil {
		return nil, false, rerr
	}
	return res, false, nil
}

// attach makes pc the exchange's connection and closes it when the
// request's context ends (drain deadline, client gone). A request with a
// body also gets its client connection's read deadline moved to the past
// then, so that a handler waiting for a slow upload returns too.
func (x *exchange) attach(pc *upConn) {
	x.pc, x.noReuse = pc, false
	var w http.ResponseWriter
	if x.hasBody {
		w = x.w
	}
	x.c.closeOnEnd(pc.nc, w)
}

// abandon closes the connection; it is never reused.
func (x *exchange) abandon() {
	if x.pc == nil {
		return
	}
	x.c.stopCloseOnEnd()
	x.pc.nc.Close()
	if x.br != nil {
		putReader(x.br)
	}
	x.pc, x.br = nil, nil
}

// finish returns the connection to its pool when it can carry another
// request, and closes it otherwise.
func (x *exchange) finish(res *http.Response) {
	if res.Close || x.noReuse || x.br.Buffered() != 0 || !x.c.stopCloseOnEnd() {
		x.abandon()
		return
	}
	putReader(x.br)
	x.pc.pool.put(x.pc, time.Now())
	x.pc, x.br = nil, nil
}

// commonMethod reports whether the fast paths (router.Server, the direct
// engine) take requests with this method; others go to net/http.
func commonMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// idempotent reports whether a request with this method may be sent twice:
// the safe methods, which the fast paths take.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// listed reports whether the comma-separated values vv contain token
// (case-insensitive).
func listed(vv []string, token string) bool {
	for _, v := range vv {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
