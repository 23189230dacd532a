//go:build linux

package router

// This file is the event loop itself: its epoll set, the loop goroutine,
// the work posted to it, the sweep of deadlines and the closing of what it
// holds. Its client side is in loop_client_linux.go, the exchange of one
// request in loop_exchange_linux.go and its upstream side in
// loop_upstream_linux.go; the pure parts it uses (outbuf.go, head.go,
// rawhead.go, chunked.go) are portable.

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"runtime"
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
