//go:build linux

package router

// This file is the event loop's exchange of one request (lexch): how it
// starts, moves its bytes between the two sides (progress), is reused, and
// ends (end, fail, slowBody, abort).

import (
	"context"
	"net/http"
	"syscall"
	"time"
)

// framing of a response body as read from the upstream.
const (
	bodyNone    = iota
	bodyLength  // Content-Length
	bodyChunked // passed through as it is
	bodyToClose // until the upstream closes: chunked to the client
)

// lexch is one request forwarded by the loop.
type lexch struct {
	l   *evloop
	c   *call
	cl  *lconn
	up  *lup
	req *http.Request // as net/http parsed it; nil when the loop did (request)

	method   string // the request's
	close    bool   // the request asked to close the connection
	head     []byte // the request head as sent upstream, for a retry
	hasBody  bool
	bodyLeft int64     // request body bytes still to forward
	bodyAt   time.Time // while bodyLeft > 0: when the body last moved (Options.BodyTimeout)
	bodySent bool
	attempt  int
	dialing  bool
	sendErr  bool // writing to the upstream failed: read what it answered

	answered bool // a byte of the response arrived: never send the request again
	headDone bool // the response head went to the client
	framing  int
	left     int64 // bodyLength: bytes still to come
	buffered bool  // the answer is read at the app's speed (Options.BufferResponses)
	chunks   chunkScanner
	resClose bool // the upstream asked to close
	noReuse  bool
	over     bool // finished or abandoned: late events are ignored
}

// lastOnConn reports whether x's answer is the last on its client
// connection, so that its head must say "Connection: close": the request
// asked for it, the loop or its server (Retire) is ending, or
// the request body is not all read (the upstream answered early), so the
// connection cannot carry another request (end closes it).
func (l *evloop) lastOnConn(x *lexch) bool {
	return x.close || l.down || l.srv.retiring.Load() || x.bodyLeft > 0
}

// start serves a request the loop has parsed with net/http: the color
// path, or a call to the upstream.
func (l *evloop) start(conn *lconn, req *http.Request) {
	rt := l.rt
	l.served.Add(1)
	req.RemoteAddr = conn.remote
	isHead := req.Method == http.MethodHead
	if req.URL.Path == rt.opts.ColorPath {
		rt.serveColor(l.response(conn, isHead, req.Close, req.ContentLength != 0), req)
		l.srv.setState(conn.id, http.StateIdle)
		return
	}
	x := l.exchange(conn, rawRequest{method: req.Method, close: req.Close, length: req.ContentLength})
	if x == nil {
		return
	}
	x.req = req
	l.headBuf.Reset()
	l.bw.Reset(&l.headBuf)
	writeRequestHead(l.bw, req, x.c.up.addr, x.hasBody, rt.fw)
	l.bw.Flush()
	conn.head = append(conn.head[:0], l.headBuf.Bytes()...)
	x.head = conn.head
	l.connect(x)
}

// startRaw serves a request appendRawRequest took, whose upstream head
// is in conn.head.
func (l *evloop) startRaw(conn *lconn, r rawRequest) {
	l.served.Add(1)
	if x := l.exchange(conn, r); x != nil {
		x.head = conn.head
		l.connect(x)
	}
}

// exchange begins the call of a request to the upstream on conn. It
// returns nil when the request was answered already (no upstreams, a body
// over the limit, cancelled by a drain as it began).
func (l *evloop) exchange(conn *lconn, r rawRequest) *lexch {
	rt := l.rt
	x := l.newExchange()
	c := x.c
	rt.start(c, l.h.preview)
	*x = lexch{l: l, c: c, cl: conn, method: r.method, close: r.close, hasBody: r.length > 0, bodyLeft: r.length}
	conn.x = x
	if len(c.pool.ups) == 0 {
		l.fail(x, errNoUpstreams)
		return nil
	}
	c.up, c.seq = c.pool.pick()
	if limit := rt.opts.MaxRequestBody; limit > 0 && r.length > limit {
		c.refuse(http.StatusRequestEntityTooLarge)
		rt.writeError(l.response(conn, r.method == http.MethodHead, r.close, true), c.color, c.status, bodyTooLarge, true)
		l.end(x)
		return nil
	}
	if c.gen != nil {
		c.reg = true
		c.gen.register(c, c.seq)
	}
	if !c.setEnder(x) {
		l.fail(x, errDrainDeadline) // cancelled as it registered
		return nil
	}
	return x
}

// newExchange returns an exchange to fill, with a call cleared for a new
// request: one that ended in an earlier round, or a new one.
func (l *evloop) newExchange() *lexch {
	if n := len(l.free); n > 0 {
		x := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		return x
	}
	l.made.Add(1)
	return &lexch{c: newCall(l.rt, context.Background())}
}

// park hands x, just ended, to reuse when nothing outside the loop can
// reach it any more: no dial of its is still running (its result would be
// posted to x), and its call says it was never shared (a drain's cancel
// told x, and posted to it, or a dial held the call as its context).
func (l *evloop) park(x *lexch) {
	if !x.dialing && x.c.reusable {
		l.freed = append(l.freed, x)
	}
}

// recycle makes the exchanges that ended in the last round reusable. It
// runs between rounds, so that no caller of end still holds one, and
// clears them, so that a parked exchange keeps nothing of its last
// request alive (a closed connection's buffers, a retired generation).
func (l *evloop) recycle() {
	for i, x := range l.freed {
		if len(l.free) < maxFree {
			*x = lexch{c: x.c}
			x.c.reset(l.rt)
			l.free = append(l.free, x)
		}
		l.freed[i] = nil
	}
	l.freed = l.freed[:0]
}

// request is x's request for http.ReadResponse: the parsed one, or one
// made of its method when the loop parsed the head itself.
func (x *lexch) request() *http.Request {
	if x.req == nil {
		x.req = &http.Request{Method: x.method, Close: x.close}
	}
	return x.req
}

// callEnded is the call's cancellation (drain deadline), from another
// goroutine: the loop ends the exchange.
func (x *lexch) callEnded(*call) {
	x.l.post(func() { x.l.cancelled(x) })
}

func (l *evloop) cancelled(x *lexch) {
	if x.over {
		return
	}
	conn := x.cl
	if x.headDone {
		l.abort(x)
		l.closeClient(conn)
		return
	}
	l.fail(x, x.c.endCause())
	l.stepClient(conn)
}

// progress moves x's bytes as far as the sockets allow. It returns true
// when the caller should go on with the client connection (the exchange
// ended, or nothing more to do on this side) and false when the client
// connection was closed.
func (l *evloop) progress(x *lexch) bool {
	conn := x.cl
	for !x.over {
		if x.dialing || x.up == nil {
			// Waiting for a connection; meanwhile keep an eye on the
			// client (a request without a body reads nothing more).
			return l.watchClient(x)
		}
		u := x.up
		moved := false
		// Request side.
		if !x.sendErr && !u.out.empty() {
			n, err := syscall.Write(u.fd, u.out.pending())
			switch {
			case n > 0:
				u.out.consume(n)
				moved = true
				if x.bodyLeft > 0 && u.out.empty() {
					x.bodyAt = time.Now() // the wait for the client starts
				}
			case err == syscall.EAGAIN, err == syscall.EINTR:
			default:
				if l.sendFailed(x, err) {
					return conn.fd >= 0
				}
				moved = true
			}
		}
		if !x.sendErr && u.out.empty() && x.bodyLeft > 0 && conn.readable {
			free := l.scratch[:min(int64(len(l.scratch)), x.bodyLeft)]
			n, err := syscall.Read(conn.fd, free)
			switch {
			case n > 0:
				if n < len(free) && !conn.rdhup {
					conn.readable = false
				}
				x.bodyLeft -= int64(n)
				x.bodySent = true
				x.bodyAt = time.Now()
				u.out.add(free[:n])
				moved = true
			case err == syscall.EAGAIN:
				conn.readable = false
			case err == syscall.EINTR:
			default:
				// The client went away in the middle of its body.
				conn.eof = true
				l.clientGone(conn)
				return false
			}
		}
		if x.bodyLeft == 0 && !x.dialing {
			if !l.watchClient(x) {
				return false
			}
		}
		// Response side: read only when the client took what came before,
		// unless the answer is buffered (read at the app's speed).
		if (conn.out.empty() || x.buffered) && u.readable {
			if !l.readUpstreamResponse(x) {
				return conn.fd >= 0
			}
			moved = true
			if !l.flushClient(conn) {
				return false
			}
		}
		if !moved {
			return true
		}
	}
	return true
}

// end finishes an exchange whose answer is queued for the client: the
// upstream connection goes back to the idle set when it can carry another
// request, and the call is recorded.
func (l *evloop) end(x *lexch) {
	if x.over {
		return
	}
	x.over = true
	if u := x.up; u != nil {
		u.x = nil
		x.up = nil
		// A last read that filled the buffer may have left bytes (or the
		// end of stream) behind, of which no new edge will tell.
		if x.noReuse || x.resClose || x.sendErr || !u.out.empty() || len(u.in) > 0 || x.bodyLeft > 0 ||
			u.rdhup || x.c.Err() != nil || (u.readable && !aliveFD(u.fd)) {
			l.closeUp(u)
		} else {
			u.readable = false
			u.idleAt = time.Now()
			ups := l.idle[u.addr]
			if len(ups) < maxIdleConnsPerHost {
				l.idle[u.addr] = append(ups, u)
			} else {
				l.closeUp(u)
			}
		}
	}
	if x.bodyLeft > 0 {
		x.cl.closeAfter = true // the rest of the body was not read
	}
	x.c.setEnder(nil)
	x.c.finish()
	x.cl.x = nil
	l.srv.setState(x.cl.id, http.StateIdle)
	l.park(x)
}

// fail answers x with the router's own error (502, 504, 499 unsent) and
// ends it.
func (l *evloop) fail(x *lexch, err error) {
	if x.over {
		return
	}
	l.abandonUp(x)
	x.c.fail(l.response(x.cl, x.method == http.MethodHead, x.close, x.bodyLeft > 0), err)
	l.end(x)
}

// slowBody ends x, whose client sent none of the rest of its body within
// Options.BodyTimeout: answered 408 when its response has not begun, cut
// otherwise; the connection closes either way (its framing is lost).
func (l *evloop) slowBody(x *lexch) {
	conn := x.cl
	if x.headDone {
		l.abort(x)
		l.closeClient(conn)
		return
	}
	x.c.slowBody.Store(true)
	l.fail(x, errSlowBody)
	l.stepClient(conn)
}

// abort ends x without an answer: its upstream connection is closed; the
// caller closes the client's.
func (l *evloop) abort(x *lexch) {
	if x.over {
		return
	}
	l.abandonUp(x)
	x.over = true
	if x.c.status == 0 {
		x.c.refuse(statusClientClosed)
	}
	x.c.setEnder(nil)
	x.c.finish()
	x.cl.x = nil
	l.park(x)
}
