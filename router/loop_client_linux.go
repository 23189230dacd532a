//go:build linux

package router

// This file is the event loop's client side: a client connection (lconn),
// its reads and writes, the parsing of its next request, its hand-off to
// the goroutine path, and the router's own answers written on it
// (loopResponse).

import (
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// lconn is one client connection on the loop.
type lconn struct {
	fd     int
	id     net.Conn // the accepted net.Conn, closed: ConnState's identity
	remote string
	in     []byte // read buffer: len is what is buffered, cap fastHeadSize
	out    obuf   // bytes not yet written to the client

	readable bool // edge-triggered: unread bytes (or the end) may be waiting
	rdhup    bool // the peer closed its side: read until 0
	eof      bool // the client's end of stream (or a read error) was read
	broken   bool // with eof: a read error (a reset), not an end of stream
	served   int
	x        *lexch
	hdr      http.Header // reused by each own answer and response head
	head     []byte      // the current request's head as sent upstream

	deadline    time.Time // header, idle or linger deadline; zero for none
	headerArmed bool      // the head's deadline is set (once per request)
	waitArmed   bool      // the wait's deadline is set
	closeAfter  bool      // close once out is written
	lingering   bool      // write side shut: drop input until EOF or deadline
}

// accept takes over nc, a connection Serve accepted and tracks. It runs on
// the accepting goroutine.
func (l *evloop) accept(nc net.Conn) {
	remote := nc.RemoteAddr().String()
	fd, err := takeFD(nc)
	if err != nil {
		l.srv.log.Warn("event loop: cannot take a connection", "err", err)
		l.srv.loopClosed(nc)
		return
	}
	c := &lconn{fd: fd, id: nc, remote: remote, in: make([]byte, 0, fastHeadSize), readable: true}
	if !l.post(func() { l.add(c) }) {
		syscall.Close(fd)
		l.srv.loopClosed(nc)
	}
}

func (l *evloop) add(c *lconn) {
	if l.down {
		syscall.Close(c.fd)
		l.srv.loopClosed(c.id)
		return
	}
	if err := l.register(c.fd, c); err != nil {
		syscall.Close(c.fd)
		l.srv.loopClosed(c.id)
		return
	}
	l.conns[c] = struct{}{}
	l.stepClient(c)
}

// closeClient closes a client connection (its exchange, if any, must be
// over).
func (l *evloop) closeClient(c *lconn) {
	if c.fd < 0 {
		return
	}
	l.unregister(c.fd)
	syscall.Close(c.fd)
	c.fd = -1
	c.out.drop()
	delete(l.conns, c)
	l.srv.loopClosed(c.id)
}

func (l *evloop) clientEvent(c *lconn, ev uint32) {
	if ev&(epollIn|epollHup) != 0 {
		c.readable = true
		if ev&epollHup != 0 {
			c.rdhup = true
		}
	}
	l.stepClient(c)
}

// readClient reads into c.in's free space. It returns false when the
// client sends no more: c.eof is set, and c.broken too when the read
// failed (a reset) rather than reaching the end of stream (a half-close,
// after which the client may still read the answer).
func (l *evloop) readClient(c *lconn) bool {
	free := c.in[len(c.in):cap(c.in)]
	if len(free) == 0 {
		return true
	}
	n, err := syscall.Read(c.fd, free)
	switch {
	case n > 0:
		c.in = c.in[:len(c.in)+n]
		if n < len(free) && !c.rdhup {
			c.readable = false
		}
		return true
	case err == syscall.EAGAIN:
		c.readable = false
		return true
	case err == syscall.EINTR:
		return true
	}
	c.eof, c.readable = true, false
	if err != nil {
		c.broken = true
	}
	return false
}

// flushClient writes what c.out holds. It returns false when the client
// is gone (the connection is then closed, its exchange aborted).
func (l *evloop) flushClient(c *lconn) bool {
	for !c.out.empty() {
		n, err := syscall.Write(c.fd, c.out.pending())
		if n > 0 {
			c.out.consume(n)
			if c.out.broken {
				// The rest of a buffered answer is lost: only a closed
				// connection tells the client its body was cut.
				l.clientGone(c)
				return false
			}
			continue
		}
		if err == syscall.EAGAIN {
			return true
		}
		if err == syscall.EINTR {
			continue
		}
		l.clientGone(c)
		return false
	}
	return true
}

// clientGone ends a connection whose client went away.
func (l *evloop) clientGone(c *lconn) {
	if x := c.x; x != nil {
		x.c.setEnder(nil)
		x.c.cancel(errClientGone)
		l.abort(x)
	}
	l.closeClient(c)
}

// stepClient makes all the progress it can on c.
func (l *evloop) stepClient(c *lconn) {
	for c.fd >= 0 {
		if !l.flushClient(c) {
			return
		}
		if c.x != nil {
			if !l.progress(c.x) {
				return
			}
			if c.x != nil {
				return // waiting for a socket
			}
			continue // the exchange ended: next request
		}
		if !c.out.empty() {
			return // the answer is still going out
		}
		if c.lingering {
			l.linger(c)
			return
		}
		if c.closeAfter || l.down {
			if !c.eof {
				// The client may still be sending (an unread body, a
				// pipelined request): stop writing, drop what comes for a
				// while, then close, so the answer already sent is not
				// destroyed by a reset.
				syscall.Shutdown(c.fd, syscall.SHUT_WR)
				c.lingering = true
				c.deadline = time.Now().Add(lingerTime)
				continue
			}
			l.closeClient(c)
			return
		}
		if !l.nextRequest(c) {
			return
		}
	}
}

// linger drops input until the end of stream (or the deadline, in expire).
func (l *evloop) linger(c *lconn) {
	for c.readable {
		c.in = c.in[:0]
		if !l.readClient(c) {
			break
		}
	}
	if c.eof {
		l.closeClient(c)
	}
}

// nextRequest parses the next request from c.in, reading more while the
// socket has some, and starts it. It returns false when it must wait for
// the socket (or the connection ended or was handed off).
func (l *evloop) nextRequest(c *lconn) bool {
	for {
		// Empty lines before a request line are ignored (RFC 9112 section 2.2).
		i := 0
		for i < len(c.in) && (c.in[i] == '\r' || c.in[i] == '\n') {
			i++
		}
		if i > 0 {
			c.in = append(c.in[:0], c.in[i:]...)
		}
		if len(c.in) == 0 {
			if !c.waitArmed {
				c.waitArmed = true
				wait := l.srv.idleTimeout
				if c.served == 0 && l.srv.readHeaderTimeout > 0 {
					wait, c.headerArmed = l.srv.readHeaderTimeout, true
				}
				if wait > 0 {
					c.deadline = time.Now().Add(wait)
				}
			}
			if l.down {
				l.closeClient(c)
				return false
			}
			if !l.readMore(c) {
				return false
			}
			continue
		}
		n := headEnd(c.in)
		if n == 0 {
			if len(c.in) == cap(c.in) {
				l.handOff(c) // too large for the fast path: net/http decides
				return false
			}
			if !c.headerArmed && l.srv.readHeaderTimeout > 0 {
				c.headerArmed = true
				c.deadline = time.Now().Add(l.srv.readHeaderTimeout)
			}
			if !l.readMore(c) {
				return false
			}
			continue
		}
		head := c.in[:n]
		if !wellFormedHead(head) || vetHead(head, l.srv.limits).status != 0 {
			l.handOff(c) // the goroutine path answers a refusal
			return false
		}
		if b, r, ok := appendRawRequest(c.head[:0], head, l.rt.opts.ColorPath, c.remote, l.rt.fw); ok {
			if l.mustBuffer(c, n, r.length) {
				l.handOff(c) // the goroutine path buffers the body
				return false
			}
			c.head = b
			l.begun(c, n)
			l.startRaw(c, r)
			return true
		}
		l.rd.Reset(head)
		l.br.Reset(&l.rd)
		req, err := http.ReadRequest(l.br)
		if err != nil || !fastRequest(req) || !plain(req) || len(req.TransferEncoding) > 0 || l.mustBuffer(c, n, req.ContentLength) {
			l.handOff(c)
			return false
		}
		l.begun(c, n)
		l.start(c, req)
		return true
	}
}

// mustBuffer reports whether a request whose head is c.in's first n bytes
// and whose body is length bytes must be buffered (Options.BufferRequests)
// and is not all in c.in yet: the loop streams bodies, so the goroutine
// path takes the connection and buffers it. A body that came with its
// head is forwarded at once, which is buffering already.
func (l *evloop) mustBuffer(c *lconn, n int, length int64) bool {
	return l.rt.opts.BufferRequests && length > int64(len(c.in)-n)
}

// begun drops a request's head of n bytes from c's input and marks the
// connection busy with it.
func (l *evloop) begun(c *lconn, n int) {
	c.in = append(c.in[:0], c.in[n:]...)
	c.deadline, c.waitArmed, c.headerArmed = time.Time{}, false, false
	c.served++
	l.srv.setState(c.id, http.StateActive)
}

// readMore reads what the socket has for a request head. It returns false
// when there is nothing now, or the connection ended (and is closed).
func (l *evloop) readMore(c *lconn) bool {
	if c.eof {
		// The client half-closed during the request before: it sends
		// no more, and what it sent has been served.
		l.closeClient(c)
		return false
	}
	if !c.readable {
		return false
	}
	if !l.readClient(c) {
		l.closeClient(c)
		return false
	}
	return true
}

// watchClient reads what the client sends while its request is served (a
// pipelined request, or the end of stream). It returns false when the
// client went away: a reset. An end of stream after the whole request is
// a half-close, as haproxy takes it: the exchange goes on and the answer
// is written; the connection closes after it (readMore), once any
// complete request read before the end is served.
func (l *evloop) watchClient(x *lexch) bool {
	conn := x.cl
	if x.bodyLeft > 0 {
		return true // its body is still to be read: progress reads it
	}
	for conn.readable && len(conn.in) < cap(conn.in) {
		if !l.readClient(conn) {
			if conn.broken {
				l.clientGone(conn)
				return false
			}
			break
		}
	}
	return true
}

// handOff gives the connection, with the bytes read so far, to the
// Server's goroutine path, which serves it from then on.
func (l *evloop) handOff(c *lconn) {
	l.unregister(c.fd)
	delete(l.conns, c)
	f := os.NewFile(uintptr(c.fd), "")
	c.fd = -1
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		l.srv.log.Warn("event loop: cannot hand a connection over", "err", err)
		l.srv.loopClosed(c.id)
		return
	}
	pending := append([]byte(nil), c.in...)
	l.srv.loopHandOff(c.id, nc, pending, c.served)
}

// loopResponse is the http.ResponseWriter of the router's own answers
// (color path, 502, 413, 504) on the loop: it appends the response to the
// client's output. It supports only what those answers use.
type loopResponse struct {
	c      *lconn
	h      http.Header
	head   bool // HEAD request: no body bytes
	status int
}

func (*loopResponse) ownWriter() {}

// Header is the answer's header map, the connection's, reused.
func (w *loopResponse) Header() http.Header { return w.h }

// WriteHeader appends the answer's head to the client's output, once; a
// "Connection: close" in it makes the connection close after the answer.
func (w *loopResponse) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	w.c.out.b = appendHead(w.c.out.b, code, w.h, nil)
	if _, set := w.h["Date"]; !set { // as net/http: a nil value suppresses it
		// Before the blank line appendHead ended with.
		w.c.out.b = appendHeader(w.c.out.b[:len(w.c.out.b)-2], "Date", httpDate())
		w.c.out.b = append(w.c.out.b, "\r\n"...)
	}
	if listed(w.h["Connection"], "close") {
		w.c.closeAfter = true
	}
}

// Write appends p to the client's output (nothing for a HEAD request),
// writing a 200 head first if none was; it never fails.
func (w *loopResponse) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.head {
		w.c.out.add(p)
	}
	return len(p), nil
}

// response starts one of the router's own answers on c, to a request
// with method HEAD when isHead, which asked to close the connection when
// closing. unread says the client may still be sending a body the answer
// leaves unread: then, as when the client asked or the server shuts down,
// the answer says "Connection: close" and the connection closes after it.
func (l *evloop) response(c *lconn, isHead, closing, unread bool) *loopResponse {
	if c.hdr == nil {
		c.hdr = make(http.Header, 8)
	}
	clear(c.hdr)
	if closing || unread || l.down || l.srv.retiring.Load() {
		c.closeAfter = true
		c.hdr["Connection"] = connClose
	}
	return &loopResponse{c: c, h: c.hdr, head: isHead}
}
