//go:build linux

package router

// This file is the event loop's upstream side: an upstream connection
// (lup), the idle set and the connect (dialNow on the loop, or a goroutine's
// dial), the sending of a request with its retry, and the reading of the
// answer: its head (parseHead) and its body per its framing (forwardBody).

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lup is one upstream connection on the loop.
type lup struct {
	fd       int
	addr     string
	reused   bool
	dead     bool
	idleAt   time.Time
	x        *lexch // nil while idle
	out      obuf
	in       []byte // bytes of a response head not complete yet
	readable bool
	rdhup    bool
	// connecting: a non-blocking connect started on the loop (dialNow)
	// that has not completed; it fails at connectBy.
	connecting bool
	connectBy  time.Time
}

func (l *evloop) closeUp(u *lup) {
	if u.dead {
		return
	}
	u.dead = true
	l.unregister(u.fd)
	syscall.Close(u.fd)
}

// errConnectTimeout fails a connect the loop started (dialNow) that did not
// complete within Options.ConnectTimeout; a timeout, as net.Dialer's.
var errConnectTimeout = os.ErrDeadlineExceeded

// connect gives x an upstream connection: an idle one to its address, or
// a new one (dialled by a goroutine).
func (l *evloop) connect(x *lexch) {
	addr := x.c.up.addr
	ups := l.idle[addr]
	for len(ups) > 0 {
		u := ups[len(ups)-1]
		ups = ups[:len(ups)-1]
		if u.dead {
			continue
		}
		// A request with a body cannot be sent again (canRetry), so make
		// sure its connection was not closed while idle.
		if time.Since(u.idleAt) > idleConnTimeout || (x.hasBody && !aliveFD(u.fd)) {
			l.closeUp(u)
			continue
		}
		l.idle[addr] = ups
		u.reused = true
		l.attach(x, u)
		return
	}
	l.idle[addr] = ups
	l.dial(x)
}

// aliveFD is alive for a raw socket.
func aliveFD(fd int) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN
}

func (l *evloop) dial(x *lexch) {
	x.dialing = true
	c := x.c
	addr := c.up.addr
	if l.dialNow(x, addr) {
		return
	}
	c.markShared() // the dial holds it as its context, maybe after x ends
	go func() {
		nc, err := l.dialer.DialContext(c, "tcp", addr)
		fd := -1
		if err == nil {
			fd, err = takeFD(nc)
		}
		if !l.post(func() { l.dialed(x, addr, fd, err) }) && fd >= 0 {
			syscall.Close(fd)
		}
	}()
}

// dialNow starts a non-blocking connect to addr on the loop itself when
// addr is an IP address and port (a name needs resolving: the goroutine's
// dial does that), as nginx does: no goroutine, no trip through Go's
// poller. The connection is registered at once; upEvent completes it
// (connected), expire fails it at Options.ConnectTimeout. It reports
// whether it took the dial (a refusal it sees at once included).
func (l *evloop) dialNow(x *lexch, addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if ip.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		family = syscall.AF_INET6
		if ip.Zone() != "" {
			return false
		}
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.Connect(fd, sa); err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		l.dialed(x, addr, -1, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: os.NewSyscallError("connect", err)})
		return true
	}
	u := &lup{fd: fd, addr: addr, connecting: true, connectBy: time.Now().Add(l.rt.opts.ConnectTimeout), x: x}
	if err := l.register(fd, u); err != nil {
		syscall.Close(fd)
		return false
	}
	l.connecting[u] = struct{}{}
	return true
}

// connected ends u's connect (dialNow): err nil, or why it failed.
func (l *evloop) connected(u *lup, err error) {
	delete(l.connecting, u)
	u.connecting = false
	x := u.x
	u.x = nil
	if err != nil {
		l.closeUp(u)
		ap, _ := netip.ParseAddrPort(u.addr)
		l.dialed(x, u.addr, -1, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: err})
		return
	}
	x.dialing = false
	if x.over {
		l.closeUp(u)
		return
	}
	u.readable = true
	l.attach(x, u)
}

func (l *evloop) dialed(x *lexch, addr string, fd int, err error) {
	x.dialing = false
	if x.over {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return
	}
	if err == nil {
		u := &lup{fd: fd, addr: addr, readable: true}
		if err = l.register(fd, u); err == nil {
			l.attach(x, u)
			return
		}
		syscall.Close(fd)
	}
	// A refused connection moves on to the color's next upstream: nothing
	// was sent, so that is safe for any method.
	c := x.c
	if n := uint64(len(c.pool.ups)); isDialError(err) && c.Err() == nil && uint64(x.attempt+1) < n {
		x.attempt++
		c.up = c.pool.ups[(c.seq+uint64(x.attempt))%n]
		l.dial(x)
		return
	}
	l.fail(x, err)
	l.stepClient(x.cl)
}

// attach sends x's request on u.
func (l *evloop) attach(x *lexch, u *lup) {
	x.up = u
	u.x = x
	u.in = u.in[:0]
	u.out.add(x.head)
	if x.bodyLeft > 0 {
		x.bodyAt = time.Now()
	}
	l.takeBody(x)
	if l.progress(x) {
		l.stepClient(x.cl)
	}
}

// takeBody moves request body bytes already read (in the client's buffer)
// to the upstream's output.
func (l *evloop) takeBody(x *lexch) {
	conn := x.cl
	if x.bodyLeft <= 0 || len(conn.in) == 0 {
		return
	}
	n := int(min(int64(len(conn.in)), x.bodyLeft))
	x.up.out.add(conn.in[:n])
	conn.in = append(conn.in[:0], conn.in[n:]...)
	x.bodyLeft -= int64(n)
	x.bodySent = true
}

// upEvent handles an upstream connection's readiness.
func (l *evloop) upEvent(u *lup, ev uint32) {
	if u.connecting {
		if ev&(epollOut|epollHup) == 0 {
			return
		}
		soerr, err := syscall.GetsockoptInt(u.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		switch {
		case err != nil:
			l.connected(u, os.NewSyscallError("getsockopt", err))
		case soerr != 0:
			l.connected(u, os.NewSyscallError("connect", syscall.Errno(soerr)))
		case ev&epollOut != 0:
			l.connected(u, nil)
		}
		return
	}
	if ev&(epollIn|epollHup) != 0 {
		u.readable = true
		if ev&epollHup != 0 {
			u.rdhup = true
		}
	}
	x := u.x
	if x == nil {
		if u.readable {
			// Idle and readable: the upstream closed it (or sent bytes
			// nobody asked for). Either way it cannot carry a request.
			l.closeUp(u)
		}
		return
	}
	if l.progress(x) {
		l.stepClient(x.cl)
	}
}

// sendFailed handles a failed write of the request. It reports true when
// the exchange is over (retried elsewhere or failed).
func (l *evloop) sendFailed(x *lexch, err error) bool {
	if l.canRetry(x) {
		l.retry(x)
		return true
	}
	if !x.bodySent {
		l.abandonUp(x)
		l.fail(x, err)
		return true
	}
	// The upstream may have answered without reading the whole body:
	// forward that answer, but do not reuse the connection.
	x.sendErr, x.noReuse = true, true
	x.up.out = obuf{}
	return false
}

// canRetry reports whether x, which failed on a reused connection, may be
// sent again: only a safe request without a body (RFC 9110 9.2.2), since
// one that reached the upstream may have been acted on.
func (l *evloop) canRetry(x *lexch) bool {
	return x.up.reused && !x.answered && x.c.Err() == nil && !x.hasBody && idempotent(x.method)
}

// retry sends x again on a fresh connection: its reused one was dead.
func (l *evloop) retry(x *lexch) {
	l.abandonUp(x)
	l.dial(x)
}

// abandonUp closes x's upstream connection.
func (l *evloop) abandonUp(x *lexch) {
	if u := x.up; u != nil {
		u.x = nil
		l.closeUp(u)
		x.up = nil
	}
}

// readResponse reads once from the upstream and forwards what it can. It
// returns false when the exchange ended (or failed).
func (l *evloop) readUpstreamResponse(x *lexch) bool {
	u := x.up
	n, err := syscall.Read(u.fd, l.scratch)
	if n > 0 && n < len(l.scratch) && !u.rdhup {
		u.readable = false
	}
	if n <= 0 {
		if err == syscall.EAGAIN {
			u.readable = false
			return true
		}
		if err == syscall.EINTR {
			return true
		}
		u.readable = false
		return l.upstreamEnded(x, err)
	}
	data := l.scratch[:n]
	x.answered = true
	if !x.headDone {
		u.in = append(u.in, data...)
		return l.parseHead(x)
	}
	return l.forwardBody(x, data)
}

// upstreamEnded handles the end of the upstream's stream (or an error).
func (l *evloop) upstreamEnded(x *lexch, err error) bool {
	clean := err == nil // the end of stream, not a reset or an error
	if clean {
		err = errUpstreamClosed
	}
	if !x.headDone {
		if l.canRetry(x) {
			l.retry(x)
			return false
		}
		l.abandonUp(x)
		l.fail(x, err)
		return false
	}
	if x.framing == bodyToClose && clean {
		x.noReuse = true
		x.cl.out.add(lastChunk)
		l.end(x)
		return false
	}
	// The body broke off: the client cannot tell a short body from a
	// whole one but by the connection closing, as net/http does.
	x.c.log(slog.LevelWarn, "upstream response body broken", err)
	l.abort(x)
	l.closeClient(x.cl)
	return false
}

var (
	errUpstreamClosed = errorString("upstream closed the connection")
	lastChunk         = []byte("0\r\n\r\n")
)

// parseHead parses the response head once it is whole, writes the
// client's, and forwards what followed it.
func (l *evloop) parseHead(x *lexch) bool {
	u := x.up
	for {
		n := responseHeadLen(u.in)
		if n < 0 {
			if len(u.in) > maxResponseHead {
				l.abandonUp(x)
				l.fail(x, errHeadTooLarge)
				return false
			}
			return true
		}
		rest := u.in[n:]
		conn := x.cl
		isHead := x.method == http.MethodHead
		colorOn := l.rt.opts.ColorHeader
		var status int
		if b, h, ok := appendRawHead(conn.out.b, u.in[:n], isHead, colorOn); ok {
			// The plain case, without a header map.
			status = h.status
			x.resClose = h.close
			switch {
			case isHead || status == http.StatusNoContent || status == http.StatusNotModified:
				x.framing = bodyNone
			case h.chunked:
				x.framing = bodyChunked
				x.chunks = chunkScanner{}
				b = appendHeader(b, "Transfer-Encoding", "chunked")
			case h.length >= 0:
				x.framing, x.left = bodyLength, h.length
				x.buffered = l.rt.buffered(h.length, h.noBuffer)
			default:
				x.framing = bodyToClose
				b = appendHeader(b, "Transfer-Encoding", "chunked")
			}
			if colorOn {
				b = appendHeader(b, headerColor, colorValue[x.c.color][0])
			}
			if l.lastOnConn(x) {
				b = appendHeader(b, "Connection", "close")
				conn.closeAfter = true
			}
			conn.out.b = append(b, "\r\n"...)
			x.c.responded(status, nil)
		} else {
			l.rd.Reset(u.in[:n])
			l.br.Reset(&l.rd)
			res, err := readUpstreamResponse(l.br, x.request())
			if err != nil {
				l.abandonUp(x)
				l.fail(x, err)
				return false
			}
			if res.StatusCode < 200 {
				if res.StatusCode == http.StatusSwitchingProtocols {
					l.abandonUp(x)
					l.fail(x, errUnexpected101)
					return false
				}
				h := l.clientHeader(conn, res)
				conn.out.b = appendHead(conn.out.b, res.StatusCode, h, skipInformationalHeader)
				u.in = append(u.in[:0], rest...)
				continue
			}
			status = res.StatusCode
			h := l.clientHeader(conn, res)
			if len(res.Trailer) > 0 {
				keys := make([]string, 0, len(res.Trailer))
				for k := range res.Trailer {
					keys = append(keys, k)
				}
				h["Trailer"] = []string{strings.Join(keys, ", ")}
			}
			x.c.responded(status, h)
			x.resClose = res.Close
			switch {
			case isHead || status == http.StatusNoContent || status == http.StatusNotModified:
				x.framing = bodyNone
			case len(res.TransferEncoding) > 0 && res.TransferEncoding[0] == "chunked":
				x.framing = bodyChunked
				h["Transfer-Encoding"] = chunkedValue
				x.chunks = chunkScanner{}
			case res.ContentLength >= 0:
				x.framing, x.left = bodyLength, res.ContentLength
				x.buffered = l.rt.buffered(res.ContentLength, noBuffering(res.Header))
			default:
				x.framing = bodyToClose
				h["Transfer-Encoding"] = chunkedValue
				delete(h, "Content-Length")
			}
			if l.lastOnConn(x) {
				h["Connection"] = connClose
				conn.closeAfter = true
			}
			conn.out.b = appendHead(conn.out.b, status, h, nil)
		}
		x.headDone = true
		// The body's first bytes stay in u.in's array, which nothing
		// reuses before this returns: forwardBody copies them out.
		body := rest
		u.in = u.in[:0]
		if x.framing == bodyNone {
			if len(body) > 0 {
				x.noReuse = true
			}
			l.end(x)
			return false
		}
		if x.framing == bodyLength && x.left == 0 {
			if len(body) > 0 {
				x.noReuse = true
			}
			l.end(x)
			return false
		}
		if len(body) == 0 {
			return true
		}
		return l.forwardBody(x, body)
	}
}

var (
	errHeadTooLarge = errorString("upstream response head too large")
	chunkedValue    = []string{"chunked"}
)

// clientHeader is the connection's header map with the response's headers
// the client gets (hop-by-hop ones removed).
func (l *evloop) clientHeader(conn *lconn, res *http.Response) http.Header {
	if conn.hdr == nil {
		conn.hdr = make(http.Header, 8)
	}
	clear(conn.hdr)
	copyResponseHeader(conn.hdr, res.Header)
	return conn.hdr
}

// forwardBody queues body bytes for the client per the response's
// framing, and ends the exchange at the body's end. It returns false when
// the exchange ended.
func (l *evloop) forwardBody(x *lexch, data []byte) bool {
	conn := x.cl
	switch x.framing {
	case bodyLength:
		take := int64(len(data))
		if take > x.left {
			take = x.left
			x.noReuse = true // bytes after the body: the connection is out of step
		}
		if x.buffered {
			if err := conn.out.addBuffered(data[:take], l.rt.opts.BufferMemory, l.rt.opts.TempDir); err != nil {
				x.c.log(slog.LevelError, "buffering an answer", err)
				l.abort(x)
				l.closeClient(conn)
				return false
			}
		} else {
			conn.out.add(data[:take])
		}
		x.left -= take
		if x.left == 0 {
			l.end(x)
			return false
		}
	case bodyChunked:
		n, done, err := x.chunks.scan(data)
		if err != nil {
			x.c.log(slog.LevelWarn, "upstream chunked body malformed", err)
			l.abort(x)
			l.closeClient(conn)
			return false
		}
		conn.out.add(data[:n])
		if done {
			if n < len(data) {
				x.noReuse = true
			}
			l.end(x)
			return false
		}
	case bodyToClose:
		conn.out.b = strconv.AppendInt(conn.out.b, int64(len(data)), 16)
		conn.out.b = append(conn.out.b, "\r\n"...)
		conn.out.add(data)
		conn.out.b = append(conn.out.b, "\r\n"...)
	}
	return true
}
