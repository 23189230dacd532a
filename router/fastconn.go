package router

// This file is the fast path's connection (fastConn): its loop of reading a
// head and serving the request with the router's own response writer, the
// request body as the handler sees it, and the watch for a client that goes
// away while its request is served.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// fastConn is one client connection served by the fast path.
type fastConn struct {
	srv    *Server
	nc     net.Conn
	id     net.Conn // the net.Conn Serve accepted, for ConnState
	br     *bufio.Reader
	remote string      // nc.RemoteAddr().String(), once
	header http.Header // reused by each response; see newFastResponse
	idle   atomic.Bool
	served int
	linger bool      // close with lingerClose: the client may still be sending
	clock  bodyClock // times c.br's reads of a request body

	// The client-gone watch of the request in progress (watchGone).
	gone       atomic.Bool // the client reset the connection: no more requests
	reqCancel  canceler    // the request's in progress; under watchMu
	watchTimer *time.Timer
	watchWG    sync.WaitGroup // the timer's func, from arming to its return
	watchMu    sync.Mutex
	reqDone    bool // the request is over: the func must not read
	reading    bool // the func reads
	aborting   bool // its read is being interrupted, not the client gone
}

// closeIfIdle closes the connection when it waits for a request (Shutdown).
func (c *fastConn) closeIfIdle() {
	if c.idle.Load() {
		c.nc.Close()
	}
}

func (c *fastConn) serve() {
	handedOff := false
	defer func() {
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.log.Error("panic serving a request", "remote", c.remote, "panic", err, "stack", string(buf))
		}
		c.srv.untrack(c)
		if !handedOff {
			if c.linger {
				c.lingerClose()
			} else {
				c.nc.Close()
			}
			c.srv.connEnded()
			c.srv.setState(c.id, http.StateClosed)
		}
	}()
	if c.srv.stdOnly {
		handedOff = c.handOff(nil)
		return
	}
	c.remote = c.nc.RemoteAddr().String()
	c.clock.nc = c.nc
	c.br = bufio.NewReaderSize(clockedReader{&c.clock, c.nc}, fastHeadSize)
	for {
		head, ok := c.readHead()
		if !ok {
			return
		}
		if head == nil {
			handedOff = c.handOff(nil)
			return
		}
		if v := vetHead(head, c.srv.limits); v.status != 0 {
			// Refused (vetHead): answer and close, as net/http's path
			// does (headFollower).
			_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c.nc, refusalAnswer(v, httpDate()))
			c.linger = true
			return
		}
		if !wellFormedHead(head) {
			handedOff = c.handOff(nil) // the head is still in br
			return
		}
		// The head stays in br's buffer until the next read from br: the
		// body is read only by the handler, after this decision.
		req, err := http.ReadRequest(c.br)
		if err != nil || !fastRequest(req) {
			handedOff = c.handOff(head)
			return
		}
		if req.Body != http.NoBody {
			// The head's deadline does not bound the body: the router's
			// handler gives each read of it Options.BodyTimeout
			// (clientBody). A request without one reads nothing more
			// until the next head, which sets its own.
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		c.served++
		c.srv.setState(c.id, http.StateActive)
		if !c.serveRequest(req) || c.srv.down.Load() {
			return
		}
		c.srv.setState(c.id, http.StateIdle)
	}
}

// readHead waits for the next request's head. It returns the head's bytes
// (a view of br's buffer, up to and including the blank line), nil with
// ok when the head does not fit the buffer or starts oddly (net/http
// decides), or !ok when the connection is over (closed, idle or header
// timeout, Shutdown).
func (c *fastConn) readHead() (head []byte, ok bool) {
	// The head's deadline runs from the first byte for a request on a
	// kept-alive connection, from the accept for the first one; it is set
	// once, never extended.
	headerDeadline, armed := false, false
	for {
		if c.br.Buffered() == 0 {
			if !armed {
				armed = true
				wait := c.srv.idleTimeout
				if c.served == 0 && c.srv.readHeaderTimeout > 0 {
					wait, headerDeadline = c.srv.readHeaderTimeout, true
				}
				if wait > 0 {
					_ = c.nc.SetReadDeadline(time.Now().Add(wait))
				}
			}
			c.idle.Store(true)
			if c.srv.down.Load() {
				return nil, false
			}
			_, err := c.br.Peek(1)
			c.idle.Store(false)
			if err != nil {
				return nil, false
			}
		}
		// Empty lines before a request line are ignored (RFC 9112
		// section 2.2): a client may send a CRLF after a POST body.
		if b, _ := c.br.Peek(1); b[0] != '\r' && b[0] != '\n' {
			break
		}
		_, _ = c.br.Discard(1)
	}
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if n := headEnd(buf); n > 0 {
			return buf[:n], true
		}
		if c.br.Buffered() == c.br.Size() {
			return nil, true // too large for the fast path
		}
		if !headerDeadline && c.srv.readHeaderTimeout > 0 {
			// The rest of the head must come within the header timeout.
			_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.readHeaderTimeout))
			headerDeadline = true
		}
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return nil, false
		}
	}
}

// handOff gives the connection to the http.Server with the bytes read so
// far replayed first: head, when http.ReadRequest consumed it from br (its
// bytes are still in br's buffer: nothing was read since), then whatever br
// holds. It reports whether the server took it.
func (c *fastConn) handOff(head []byte) bool {
	var pending []byte
	if head != nil {
		pending = append(pending, head...)
	}
	if c.br != nil && c.br.Buffered() > 0 {
		rest, _ := c.br.Peek(c.br.Buffered())
		pending = append(pending, rest...)
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	rc := newReplayConn(c.nc, pending, c.id)
	rc.follow = newHeadFollower(c.srv.limits)
	return c.srv.handoff.put(rc)
}

// serveRequest runs the handler for req and finishes the response. It
// reports whether the connection may carry another request.
func (c *fastConn) serveRequest(req *http.Request) bool {
	req.RemoteAddr = c.remote
	if !c.srv.selfCancel {
		// The request's context ends when the handler returns, as in
		// net/http, or when the client goes away (the watch cancels it).
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(context.Canceled)
		req = req.WithContext(ctx)
		c.cancelOnGone(cancelFunc(cancel))
	}
	defer c.cancelOnGone(nil)
	var body *fastBody
	if req.Body != http.NoBody {
		body = &fastBody{rc: req.Body}
		req.Body = body
	}
	w := newFastResponse(c, req, body)
	defer w.release()
	if body == nil {
		c.watchGone()
		defer c.stopWatching()
	}
	c.srv.handler.ServeHTTP(w, req)
	ok := w.finish() && !c.gone.Load() && !w.closeAfter
	if body != nil && !body.sawEOF.Load() {
		// writeHead dropped what it could of an unread body, or announced
		// the close: the client may still be sending, so close gently.
		c.linger = true
		return false
	}
	return ok
}

// canceler is what the client-gone watch cancels: the request context's
// cancel, or the router's call, which its handler registers itself
// (Server.selfCancel) so that a request costs no context of the server's.
type canceler interface{ cancel(cause error) }

// cancelFunc is a context's cancel as a canceler.
type cancelFunc context.CancelCauseFunc

func (f cancelFunc) cancel(cause error) { f(cause) }

// cancelOnGone makes x the canceler of the request in progress (nil at its
// end); if the watch already saw the client go, x is cancelled at once.
func (c *fastConn) cancelOnGone(x canceler) {
	c.watchMu.Lock()
	c.reqCancel = x
	gone := c.gone.Load()
	c.watchMu.Unlock()
	if gone && x != nil {
		x.cancel(errClientGone)
	}
}

// maxPostHandlerDrain is how much of an unread request body is read and
// dropped after the handler to keep the connection, as net/http does.
const maxPostHandlerDrain = 256 << 10

// fastBody is a request body as the handler sees it: it records whether it
// was read to its end, and its Close does not read the rest (http.ReadRequest's
// would, without limit); what to do with an unread rest is decided when the
// response head is written (settleBody).
type fastBody struct {
	rc     io.ReadCloser
	sawEOF atomic.Bool
	closed atomic.Bool
}

// Read reads the body; after Close it fails with http.ErrBodyReadAfterClose.
func (b *fastBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.sawEOF.Store(true)
	}
	return n, err
}

// Close marks the body closed without reading its rest; it never fails.
func (b *fastBody) Close() error {
	b.closed.Store(true)
	return nil
}

// settleBody runs before the response head is written, as net/http does:
// an unread body of at most maxPostHandlerDrain bytes is read and dropped
// so the connection can carry the next request; a larger one, or one the
// handler closed early, makes the response say "Connection: close".
func settleBody(b *fastBody, req *http.Request) (closeAfter bool) {
	if b == nil || b.sawEOF.Load() {
		return false
	}
	if b.closed.Load() {
		return true
	}
	if req.ContentLength > maxPostHandlerDrain {
		return true // it may be partly read: a close is cheaper than the rest
	}
	n, err := io.CopyN(io.Discard, b, maxPostHandlerDrain+1)
	return err != io.EOF || n > maxPostHandlerDrain
}

// lingerClose closes a connection whose client may still be sending (an
// unread body): it stops writing, drops what arrives for up to half a
// second, then closes, so the answer already sent is not destroyed by a
// reset, as net/http's closeWriteAndWait.
func (c *fastConn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c.nc)
	}
	c.nc.Close()
}

// clientGoneAfter is how long a request without a body runs before the
// connection is watched for the client going away. Most answers come
// sooner, and then the watch costs a timer reset and stop.
const clientGoneAfter = 100 * time.Millisecond

// errClientGone cancels a request whose client closed the connection while
// it was still being served.
var errClientGone = errors.New("bluegreen: the client closed the connection")

// watchGone arms the watch for the current request: after clientGoneAfter,
// a read on the connection (a Peek, which keeps any bytes for the next
// request) tells when the client hangs up (a reset; an end of stream is a
// half-close, which still gets its answer), and then marks the connection
// gone and cancels the request (and its upstream exchange) through its
// canceler (cancelOnGone). It replaces net/http's background read, which
// runs for every request.
func (c *fastConn) watchGone() {
	c.watchMu.Lock()
	c.reqDone, c.aborting, c.reading = false, false, false
	c.watchMu.Unlock()
	c.watchWG.Add(1) // done by watchRead, or by stopWatching if it never runs
	if c.watchTimer == nil {
		c.watchTimer = time.AfterFunc(clientGoneAfter, c.watchRead)
		return
	}
	c.watchTimer.Reset(clientGoneAfter)
}

func (c *fastConn) watchRead() {
	defer c.watchWG.Done()
	c.watchMu.Lock()
	if c.reqDone {
		c.watchMu.Unlock()
		return
	}
	// The head's deadline (the header timeout for a first request) must
	// not end the watch of a request that simply takes long. Under the
	// lock: stopWatching's deadline in the past comes after this.
	_ = c.nc.SetReadDeadline(time.Time{})
	c.reading = true
	c.watchMu.Unlock()
	_, err := c.br.Peek(1)
	c.watchMu.Lock()
	// An end of stream is a half-close (shutdown(SHUT_WR), nc -N): the
	// request was read whole, so it is answered, and the next readHead
	// meets the end and closes. A read error (a reset) is the client gone.
	gone := err != nil && err != io.EOF && !c.aborting
	if gone {
		c.gone.Store(true)
	}
	x := c.reqCancel
	c.watchMu.Unlock()
	if gone && x != nil {
		x.cancel(errClientGone)
	}
}

// stopWatching ends the watch when the request is over: the timer is
// stopped, or the read it started is interrupted, and either way the
// timer's func has returned before this does, so that the connection's
// reader is the serving goroutine's alone again.
func (c *fastConn) stopWatching() {
	if c.watchTimer.Stop() {
		c.watchWG.Done()
		return
	}
	c.watchMu.Lock()
	c.reqDone = true
	reading := c.reading
	c.aborting = reading
	c.watchMu.Unlock()
	if reading {
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
	c.watchWG.Wait()
	if reading {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
}
