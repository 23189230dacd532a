//go:build linux

package router

// This file is over 700 lines: the event loop with its client side, its
// upstream side and its output buffers. Issue 24 splits it by concern in a
// change of its own, with no change of behaviour; issue 23 (hardening) left
// the split to it so that its own diff stays readable.

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loopAvailable says whether this platform has the event loop.
const loopAvailable = true

// evloop is the event-loop data path of one Server (Options.EventLoop): a
// single goroutine, locked to its thread, that waits on an epoll set and
// serves every accepted connection's plain requests itself, reading and
// writing non-blocking sockets, with no goroutine per connection. Per
// request that is one read of the request, one write to the upstream, one
// read of the response and one write to the client (plus the occasional
// epoll_wait for a batch of them), where a goroutine per connection over
// Go's network poller costs twice the system calls and a scheduler wake-up
// at each step; on a small machine shared with its upstreams that CPU is
// what the latency tail is made of.
//
// It takes what router.Server's fast path takes (wellFormedHead, fastRequest,
// the direct engine's plain, and no chunked request body) and the color
// path; a connection whose next request is anything else is handed, with
// the bytes read so far, to the Server's goroutine path (fastConn.serve),
// which keeps it from then on. The bookkeeping is the Router's: the same
// call record, generation, drain cancellation and counters as the other
// paths. Plain heads are forwarded line by line (appendRawRequest,
// appendRawHead); others go through net/http and the direct engine's
// writeRequestHead, http.ReadResponse and copyResponseHeader.
//
// Sockets are registered edge-triggered for input, output and peer
// close. A read that returns less than it asked for means the socket was
// emptied (a new edge comes with new data), so a request costs no read
// that finds nothing, unless the peer's close came with the data, which
// the event says (EPOLLRDHUP). Everything else reaches the loop through
// post: new connections, dial results (upstream connections are opened by
// a goroutine with net.Dialer, then taken over), cancellations, shutdown.
type evloop struct {
	srv *Server
	rt  *Router
	h   *handler

	ep   int // epoll descriptor
	wake int // eventfd: post writes to it

	mu     sync.Mutex
	posted []func()
	quit   bool
	done   chan struct{} // closed when run returns
	served atomic.Int64  // requests started (tests read it)
	made   atomic.Int64  // exchanges allocated, not reused (tests read it)

	// Owned by the loop goroutine.
	fds   []any // by descriptor: *lconn or *lup
	conns map[*lconn]struct{}
	idle  map[string][]*lup
	// connecting holds the upstream connections whose connect the loop
	// started itself (dialNow) and that have not completed.
	connecting map[*lup]struct{}
	scratch    []byte
	headBuf    bytes.Buffer
	bw         *bufio.Writer
	rd         bytes.Reader
	br         *bufio.Reader
	down       bool // Shutdown: close connections once idle
	sweep      time.Duration
	lastScan   time.Time
	dialer     net.Dialer

	// Exchanges, with their calls, are reused: a request on a kept-alive
	// connection allocates nothing of the loop's, so the collector runs
	// less often under load. One that ended goes to freed; it moves to
	// free at the start of the next round, when no handler of this round
	// can still be looking at it (see end).
	freed []*lexch
	free  []*lexch
}

// maxFree bounds the exchanges kept for reuse, a few hundred bytes each.
const maxFree = 1024

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

const (
	epollIn  = syscall.EPOLLIN
	epollOut = syscall.EPOLLOUT
	epollHup = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	epollET  = -syscall.EPOLLET & 0xffffffff // EPOLLET is 1<<31; the constant is negative

	// maxResponseHead caps an upstream response head (net/http's limit is
	// larger, but the loop buffers it): a longer one is answered 502.
	maxResponseHead = 64 << 10

	// lingerTime is how long a closed-for-writing connection drops what the
	// client still sends (an unread body) before it is closed.
	lingerTime = 500 * time.Millisecond
)

// newLoop creates the loop of srv (not started).
func newLoop(srv *Server, h *handler) (*evloop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(ep)
		return nil, os.NewSyscallError("eventfd2", e)
	}
	l := &evloop{
		srv: srv, rt: h.rt, h: h, ep: ep, wake: int(wake),
		done:       make(chan struct{}),
		conns:      map[*lconn]struct{}{},
		idle:       map[string][]*lup{},
		connecting: map[*lup]struct{}{},
		scratch:    make([]byte, 32<<10),
		dialer:     net.Dialer{Timeout: h.rt.opts.ConnectTimeout, KeepAlive: 30 * time.Second},
	}
	l.bw = bufio.NewWriterSize(&l.headBuf, 4096)
	l.br = bufio.NewReaderSize(&l.rd, 4096)
	l.sweep = time.Second
	for _, d := range []time.Duration{srv.readHeaderTimeout, srv.idleTimeout, h.rt.opts.BodyTimeout, h.rt.opts.ConnectTimeout} {
		if d > 0 {
			l.sweep = min(l.sweep, max(d/10, 5*time.Millisecond))
		}
	}
	ev := syscall.EpollEvent{Events: epollIn, Fd: int32(l.wake)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, l.wake, &ev); err != nil {
		syscall.Close(ep)
		syscall.Close(l.wake)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return l, nil
}

// post runs f on the loop goroutine, soon. It reports false when the loop
// has stopped (f will not run).
func (l *evloop) post(f func()) bool {
	l.mu.Lock()
	if l.quit {
		l.mu.Unlock()
		return false
	}
	if len(l.posted) == 0 {
		// Under mu: the loop closes wake only after quit is set (under
		// mu), so this never writes to a closed (or reused) descriptor.
		var one = [8]byte{1}
		syscall.Write(l.wake, one[:])
	}
	l.posted = append(l.posted, f)
	l.mu.Unlock()
	return true
}

// quitNow refuses further posts; what was posted before still runs (run
// drains it before returning).
func (l *evloop) quitNow() {
	l.mu.Lock()
	l.quit = true
	l.mu.Unlock()
}

// stop ends the loop, closing every connection on it, and returns once
// the loop goroutine has.
func (l *evloop) stop() {
	l.post(func() {
		l.quitNow()
		l.closeAll()
	})
	<-l.done
}

// run is the loop goroutine.
func (l *evloop) run() {
	defer close(l.done)
	evs := make([]syscall.EpollEvent, 256)
	lastYield := time.Now()
	for {
		l.recycle()
		wait := -1
		if l.timed() {
			wait = int(l.sweep / time.Millisecond)
		}
		n, err := syscall.EpollWait(l.ep, evs, wait)
		if err != nil && err != syscall.EINTR {
			l.rt.log.Error("event loop: epoll_wait failed; closing its connections", "err", err)
			l.quitNow()
			l.closeAll()
		}
		for i := 0; i < n; i++ {
			fd := int(evs[i].Fd)
			if fd == l.wake {
				var b [8]byte
				syscall.Read(l.wake, b[:])
				continue
			}
			if fd >= len(l.fds) {
				continue
			}
			switch o := l.fds[fd].(type) {
			case *lconn:
				l.clientEvent(o, evs[i].Events)
			case *lup:
				l.upEvent(o, evs[i].Events)
			}
		}
		if l.runPosted() {
			syscall.Close(l.ep)
			syscall.Close(l.wake)
			return
		}
		now := time.Now()
		if wait >= 0 && now.Sub(l.lastScan) >= l.sweep {
			l.lastScan = now
			l.expire(now)
		}
		if now.Sub(lastYield) >= yieldEvery {
			// A goroutine that never blocks in the scheduler looks stuck
			// to the runtime's monitor: every 10 ms it would signal it to
			// preempt it and take its P back, and then poll at its
			// fastest (every 20 µs) for a while. Yielding now and then
			// keeps the monitor asleep.
			lastYield = now
			runtime.Gosched()
		}
	}
}

// lastOnConn reports whether x's answer is the last on its client
// connection, so that its head must say "Connection: close": the request
// asked for it, the loop or its server (Retire) is ending, or
// the request body is not all read (the upstream answered early), so the
// connection cannot carry another request (end closes it).
func (l *evloop) lastOnConn(x *lexch) bool {
	return x.close || l.down || l.srv.retiring.Load() || x.bodyLeft > 0
}

// yieldEvery is how often the busy loop yields to the scheduler, under
// the runtime's 10 ms preemption period. Each yield costs a trip through
// the scheduler, most often a futex wake of another thread that then runs
// the loop: at 2 ms they were 8% of the loop's CPU samples at 5,000
// req/s. 5 ms cut serve's futex calls from 0.28 to 0.16 per request; 8 ms
// cuts them by another third (3,600 to 2,450 in 4 s at 5,000 req/s, perf
// stat) with as many signals as at 5 ms, so the monitor still finds
// nothing to preempt. The monitor preempts a P whose schedule count has
// not changed for 10 ms from its first look, which is never before the
// last yield, so an iteration may overrun 8 ms by up to 2 ms.
const yieldEvery = 8 * time.Millisecond

// runPosted runs what was posted; it reports whether the loop must end.
// Once quit is set nothing more can be posted, so it first runs what is
// left (a connection accepted or a dial finished while the loop was
// stopping: each closes what it carries, the loop being down).
func (l *evloop) runPosted() bool {
	for {
		l.mu.Lock()
		fs, quit := l.posted, l.quit
		l.posted = nil
		l.mu.Unlock()
		for _, f := range fs {
			f()
		}
		if quit && len(fs) == 0 {
			return true
		}
		if !quit {
			l.mu.Lock()
			quit = l.quit
			l.mu.Unlock()
			if !quit {
				return false
			}
		}
	}
}

// timed reports whether any connection has a deadline to watch (expire
// drops the idle sets it empties).
func (l *evloop) timed() bool {
	return len(l.conns) > 0 || len(l.idle) > 0 || len(l.connecting) > 0
}

// expire fails the connects past Options.ConnectTimeout, closes the client
// connections past their deadline and the upstream connections idle too
// long.
func (l *evloop) expire(now time.Time) {
	for u := range l.connecting {
		if now.After(u.connectBy) {
			l.connected(u, errConnectTimeout)
		}
	}
	for c := range l.conns {
		if x := c.x; x != nil {
			// Only a wait for the client counts: not a dial, nor an
			// upstream slow to take what was sent.
			if x.bodyLeft > 0 && x.up != nil && x.up.out.empty() && !x.sendErr &&
				now.Sub(x.bodyAt) > l.rt.opts.BodyTimeout {
				l.slowBody(x)
			}
			continue
		}
		if !c.deadline.IsZero() && now.After(c.deadline) {
			l.closeClient(c)
		}
	}
	for addr, ups := range l.idle {
		keep := ups[:0]
		for _, u := range ups {
			if u.dead {
				continue
			}
			if now.Sub(u.idleAt) > idleConnTimeout {
				l.closeUp(u)
				continue
			}
			keep = append(keep, u)
		}
		if len(keep) == 0 {
			delete(l.idle, addr)
		} else {
			l.idle[addr] = keep
		}
	}
}

func (l *evloop) register(fd int, o any) error {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, make([]any, len(l.fds)+64)...)
	}
	ev := syscall.EpollEvent{Events: epollIn | epollOut | syscall.EPOLLRDHUP | epollET, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	l.fds[fd] = o
	return nil
}

func (l *evloop) unregister(fd int) {
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, fd, nil)
	l.fds[fd] = nil
}

// takeFD returns a duplicate of nc's socket (non-blocking, close-on-exec)
// and closes nc.
func takeFD(nc net.Conn) (int, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errNotSocket
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	err = rc.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = os.NewSyscallError("fcntl", e)
			return
		}
		fd = int(r)
	})
	if err == nil {
		err = derr
	}
	return fd, err
}

var errNotSocket = errorString("not a socket")

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

func (l *evloop) closeUp(u *lup) {
	if u.dead {
		return
	}
	u.dead = true
	l.unregister(u.fd)
	syscall.Close(u.fd)
}

// closeAll closes every connection at once (Server.Close).
func (l *evloop) closeAll() {
	l.down = true
	for c := range l.conns {
		if x := c.x; x != nil {
			x.c.setEnder(nil)
			x.c.cancel(errServerClosed)
			l.abort(x)
		}
		l.closeClient(c)
	}
	l.closeIdle(nil)
	for u := range l.connecting {
		delete(l.connecting, u)
		l.closeUp(u)
	}
}

// closeIdle closes the idle upstream connections for which keep is false
// (all when keep is nil).
func (l *evloop) closeIdle(keep func(addr string) bool) {
	for addr, ups := range l.idle {
		if keep != nil && keep(addr) {
			continue
		}
		for _, u := range ups {
			l.closeUp(u)
		}
		delete(l.idle, addr)
	}
}

// shutdown closes the client connections waiting for a request and makes
// the others close after their current one.
func (l *evloop) shutdown() {
	l.down = true
	for c := range l.conns {
		if c.x == nil && len(c.in) == 0 && c.out.empty() {
			l.closeClient(c)
		}
	}
}

var errServerClosed = errorString("bluegreen: server closed")

// errConnectTimeout fails a connect the loop started (dialNow) that did not
// complete within Options.ConnectTimeout; a timeout, as net.Dialer's.
var errConnectTimeout = os.ErrDeadlineExceeded

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

func (w *loopResponse) Header() http.Header { return w.h }

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
