package router

// This file is the Server's life: accepting (with the connection cap),
// tracking each connection on whichever path serves it, Shutdown, Retire
// and Close. A connection is served by the fast path (fastconn.go), by an
// event loop (loop_linux.go), or by net/http after a hand-off (handoff.go);
// the pure checks of a request head that choose the path are in head.go.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves one of the router's handlers on a listener. It reads each
// connection's requests itself and serves the plain ones (HTTP/1.1, a
// common method, an origin-form target, one valid Host, no Expect, Upgrade
// or trailers, a head of well-formed CRLF lines that fits its buffer) with
// its own small response writer, on the connection's goroutine. It hands
// any connection whose next request is anything else to an http.Server,
// with the bytes it has read replayed, so net/http answers it exactly as it
// would have from the start (400s, 431, 505, 100-continue, upgrades,
// HTTP/1.0) and keeps the connection from then on.
//
// What the fast path saves is net/http's per-request background read of
// the client connection (a goroutine, a read that finds nothing and a
// deadline dance), which on a busy proxy is a fifth of the CPU per request.
// It watches for the client going away only once a request without a body
// has run for clientGoneAfter (most are answered sooner). For a request
// with a body, a client that goes away is noticed while its body is read,
// or else only when the answer is written. A client that only ends its
// side after a whole request (a half-close) is not gone: it gets its
// answer, then the connection closes.
//
// The zero value is not usable: get one from Router.NewServer. Set
// ConnState before Serve.
type Server struct {
	// ConnState, when set, is called as net/http's Server.ConnState is:
	// StateNew once per accepted connection, StateActive and StateIdle
	// around requests, StateClosed (or StateHijacked) at the end, whichever
	// path serves the connection.
	ConnState func(net.Conn, http.ConnState)

	handler           http.Handler
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	log               *slog.Logger
	std               *http.Server // serves the connections handed over
	stdOnly           bool         // hand over every connection at once
	selfCancel        bool         // handler is the router's: it registers its call (cancelOnGone)
	useLoop           bool         // serve on an event loop (Options.EventLoop)
	handoff           *connQueue
	limits            headLimits // vetHead's, on every path

	// slots holds one token per open connection when the number is
	// capped (SetMaxConnections); quit wakes an accept loop waiting for
	// one (stop, Retire).
	slots    chan struct{}
	quit     chan struct{}
	quitOnce sync.Once
	capped   atomic.Bool // the cap was reached (logged once until it clears)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*fastConn]struct{}
	stdOn     bool      // std.Serve(handoff) was started
	loops     []*evloop // started on first use; connections go round-robin
	loopNext  int
	loopConns int // connections the loops serve
	down      atomic.Bool
	retiring  atomic.Bool // Retire: each answer closes its connection
	stdConns  int         // connections net/http serves (counted for Retire)
	connsDone *sync.Cond  // signalled when listeners, conns, loopConns or stdConns shrink
}

// fastHeadSize is the read buffer of a connection: a request head that
// does not fit goes to net/http, whose limit is a megabyte.
const fastHeadSize = 4 << 10

func newServer(h http.Handler, readHeaderTimeout, idleTimeout time.Duration, log *slog.Logger) *Server {
	s := &Server{
		handler:           h,
		readHeaderTimeout: readHeaderTimeout,
		idleTimeout:       idleTimeout,
		log:               log,
		handoff:           newConnQueue(),
		quit:              make(chan struct{}),
		listeners:         map[net.Listener]struct{}{},
		conns:             map[*fastConn]struct{}{},
	}
	s.connsDone = sync.NewCond(&s.mu)
	s.std = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f, ok := r.Context().Value(followerKey{}).(*headFollower); ok && !vetted(f, w, r) {
				return
			}
			if s.retiring.Load() && r.Header.Get("Upgrade") == "" {
				// Retire: net/http closes the connection after an answer
				// that says so (an upgrade keeps its own Connection).
				w.Header()["Connection"] = connClose
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			// The handler times a request body's reads with it.
			if rc, ok := c.(*replayConn); ok {
				ctx = context.WithValue(ctx, bodyClockKey{}, &rc.clock)
				if rc.follow != nil {
					ctx = context.WithValue(ctx, followerKey{}, rc.follow)
				}
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.mu.Lock()
				s.stdConns++
				s.mu.Unlock()
			case http.StateClosed, http.StateHijacked:
				s.mu.Lock()
				s.stdConns--
				s.connsDone.Broadcast()
				s.mu.Unlock()
				// A hijacked (upgraded) connection is counted as ended here
				// and no longer holds a slot.
				s.connEnded()
			}
			// The connection was reported new when it was accepted, and
			// as the net.Conn accepted, not the replaying wrapper.
			if rc, ok := c.(*replayConn); ok {
				rc.active.Store(st == http.StateActive)
				c = rc.ident()
			}
			if st != http.StateNew && s.ConnState != nil {
				s.ConnState(c, st)
			}
		},
	}
	s.setLimits(headLimits{})
	return s
}

// SetMaxConnections caps the connections the server holds open at n
// (n <= 0: no cap). At the cap its accept loops stop accepting until one
// ends: new clients wait in the kernel's listen backlog, not in a file
// descriptor of this process, so the descriptors left stay for the
// upstream connections, the API and the state, and the connections
// already open keep being served. An upgraded connection (a WebSocket)
// stops counting once net/http hands it over. Call it before Serve.
func (s *Server) SetMaxConnections(n int) {
	if n > 0 {
		s.slots = make(chan struct{}, n)
	} else {
		s.slots = nil
	}
}

// takeSlot waits for a connection slot; false when the server stops
// first.
func (s *Server) takeSlot() bool {
	if s.slots == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	if !s.capped.Swap(true) {
		s.log.Warn("connection limit reached: new connections wait in the listen backlog until one ends", "max_connections", cap(s.slots))
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-s.quit:
		return false
	}
}

// connEnded gives back the slot of a connection that ended.
func (s *Server) connEnded() {
	if s.slots == nil {
		return
	}
	<-s.slots
	// An accept loop holds a slot while it waits in Accept.
	if len(s.slots) <= cap(s.slots)*9/10 && s.capped.Swap(false) {
		s.log.Info("connections below the limit again", "open", len(s.slots), "max_connections", cap(s.slots))
	}
}

// quitAccepting wakes accept loops waiting for a slot.
func (s *Server) quitAccepting() { s.quitOnce.Do(func() { close(s.quit) }) }

// setLimits sets the head limits of every path (zero fields: the
// defaults); net/http refuses a head over the size limit by itself too.
func (s *Server) setLimits(l headLimits) {
	s.limits = l.withDefaults()
	s.std.MaxHeaderBytes = s.limits.maxBytes
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.down.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	if !s.stdOn {
		s.stdOn = true
		go s.std.Serve(s.handoff) //nolint:errcheck // ends with ErrServerClosed
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.connsDone.Broadcast() // Retire waits for the accept loops
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		if !s.takeSlot() {
			return http.ErrServerClosed
		}
		nc, err := ln.Accept()
		if err != nil {
			s.connEnded()
			if s.down.Load() || s.retiring.Load() {
				return http.ErrServerClosed
			}
			if retryAccept(err) {
				// Out of descriptors or a transient error: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if l := s.loopFor(); l != nil {
			if !s.trackLoop() {
				nc.Close()
				s.connEnded()
				return http.ErrServerClosed
			}
			if s.ConnState != nil {
				s.ConnState(nc, http.StateNew)
			}
			l.accept(nc)
			continue
		}
		c := &fastConn{srv: s, nc: nc, id: nc}
		if !s.track(c) {
			nc.Close()
			s.connEnded()
			return http.ErrServerClosed
		}
		if s.ConnState != nil {
			s.ConnState(nc, http.StateNew)
		}
		go c.serve()
	}
}

// retryAccept reports whether an Accept error is worth waiting out: too
// many open files, memory, a connection aborted before it was accepted.
func retryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) track(c *fastConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// loopFor returns the server's event loop, started on first use, or nil
// when connections are served by goroutines.
func (s *Server) loopFor() *evloop {
	if !s.useLoop {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loops == nil {
		for range s.handler.(*handler).rt.opts.EventLoops {
			l, err := newLoop(s, s.handler.(*handler))
			if err != nil {
				s.log.Warn("event loop unavailable; serving connections with goroutines", "err", err)
				s.useLoop = false
				for _, l := range s.loops {
					go l.stop()
				}
				s.loops = nil
				return nil
			}
			s.loops = append(s.loops, l)
			l.rt.addLoop(l)
			go l.run()
		}
	}
	l := s.loops[s.loopNext%len(s.loops)]
	s.loopNext++
	return l
}

func (s *Server) trackLoop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down.Load() {
		return false
	}
	s.loopConns++
	return true
}

// loopClosed records the end of a connection the loop served; id is the
// net.Conn Serve accepted.
func (s *Server) loopClosed(id net.Conn) {
	s.mu.Lock()
	s.loopConns--
	s.connsDone.Broadcast()
	s.mu.Unlock()
	s.connEnded()
	s.setState(id, http.StateClosed)
}

// loopHandOff takes a connection from the loop onto the goroutine path,
// with the bytes the loop read replayed first. id is the net.Conn Serve
// accepted (ConnState's identity); served counts the requests it carried.
func (s *Server) loopHandOff(id, nc net.Conn, pending []byte, served int) {
	c := &fastConn{srv: s, nc: newReplayConn(nc, pending, id), id: id, served: served}
	s.mu.Lock()
	s.loopConns--
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go c.serve()
}

func (s *Server) untrack(c *fastConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.connsDone.Broadcast()
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections and waits for the
// others to finish their request (then closes them), on both paths, until
// ctx ends; then it returns ctx's error and Close should follow.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	stdErr := make(chan error, 1)
	go func() { stdErr <- s.std.Shutdown(ctx) }()
	if err := s.waitConns(ctx, true); err != nil {
		<-stdErr
		return err
	}
	s.stopLoop()
	return <-stdErr
}

// Retire stops accepting and lets each connection end where its client is
// told so: every answer from now on says "Connection: close", and its
// connection closes after it. Unlike Shutdown, it does not close a
// connection that waits for its next request, since the client may be
// sending that request at this moment (the race that loses requests on an
// nginx reload): such a connection is served once more, or ends by its idle
// timeout, or by the Close that follows a Retire cut short by ctx. A
// connection net/http serves (an upgrade, HTTP/1.0, ...) is treated the same
// way; an upgraded one (a WebSocket) is not waited for, and lasts until
// Close or the process's end. Retire returns nil when no connection is left,
// or ctx's error when ctx ends first; Close should follow then. serve's
// hand-over to a new process retires its servers this way while the new one
// accepts on the same sockets.
func (s *Server) Retire(ctx context.Context) error {
	s.mu.Lock()
	s.retiring.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.quitAccepting()
	if err := s.waitConns(ctx, false); err != nil {
		return err
	}
	s.stop()
	s.stopLoop()
	return s.std.Shutdown(ctx)
}

// waitConns waits until every accept loop has returned and no connection
// is left on the fast path and the loops (and, for Retire, on net/http's),
// or ctx ends (then it returns ctx's error). With closeIdle (Shutdown) it
// closes each fast-path connection that waits for a request, and leaves
// net/http's to http.Server.Shutdown.
func (s *Server) waitConns(ctx context.Context, closeIdle bool) error {
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for (len(s.listeners) > 0 || len(s.conns) > 0 || s.loopConns > 0 || (!closeIdle && s.stdConns > 0)) && ctx.Err() == nil {
			if closeIdle {
				for c := range s.conns {
					c.closeIfIdle()
				}
			}
			s.connsDone.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	// Wake the waiter when ctx ends, and re-check idle connections now and
	// then: one may turn idle between a check and the wait.
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-t.C:
		case <-ctx.Done():
		}
		s.mu.Lock()
		s.connsDone.Broadcast()
		s.mu.Unlock()
		if ctx.Err() != nil {
			<-done
			return ctx.Err()
		}
	}
}

// Close closes the listeners and every connection at once, on both paths.
func (s *Server) Close() error {
	s.stop()
	s.stopLoop()
	err := s.std.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down.Store(true)
	s.quitAccepting()
	for ln := range s.listeners {
		ln.Close()
	}
	s.handoff.Close()
	for _, l := range s.loops {
		l.post(l.shutdown)
	}
}

// stopLoop ends the event loops, closing what they still serve.
func (s *Server) stopLoop() {
	s.mu.Lock()
	ls := s.loops
	s.mu.Unlock()
	for _, l := range ls {
		l.stop()
		l.rt.removeLoop(l)
	}
}

func (s *Server) setState(nc net.Conn, st http.ConnState) {
	if s.ConnState != nil {
		s.ConnState(nc, st)
	}
}
