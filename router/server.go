package router

// This file is over 700 lines: the Server's life (accept, caps, shutdown,
// retire), the fast connection, the head reading and the hand-off to
// net/http with its replaying, head-following connection. Issue 24 splits it
// by concern in a change of its own, with no change of behaviour.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
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

// maxPostHandlerDrain is how much of an unread request body is read and
// dropped after the handler to keep the connection, as net/http does.
const maxPostHandlerDrain = 256 << 10

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

// headEnd returns the length of the request head at the start of buf,
// ending with "\r\n\r\n", or 0 when buf holds no complete head. A head that
// ends with a bare LF somewhere ("\n\n", "\n\r\n") is complete but odd: it
// is given whole (len(buf)) for wellFormedHead to refuse.
func headEnd(buf []byte) int {
	if i := bytes.Index(buf, crlfcrlf); i >= 0 {
		return i + len(crlfcrlf)
	}
	if bytes.Contains(buf, lflf) || bytes.Contains(buf, lfcrlf) {
		return len(buf)
	}
	return 0
}

// refusalAnswer is the whole answer, dated date, to a request vetHead
// refused.
func refusalAnswer(v headVerdict, date string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nDate: %s\r\nContent-Length: %d\r\n\r\n%s",
		v.status, http.StatusText(v.status), date, len(v.why), v.why)
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
	lfcrlf   = []byte("\n\r\n")
)

// wellFormedHead reports whether every line of head ends with CRLF, holds
// no control character other than HTAB, every header name is a token
// followed by a colon, exactly one of them is Host and Content-Length and
// Transfer-Encoding do not come together: anything else goes
// to net/http, whose checks are the reference. (http.ReadRequest drops the
// Host header, so the count must come from the bytes.)
func wellFormedHead(head []byte) bool {
	for i, b := range head {
		switch {
		case b == '\n':
			if i == 0 || head[i-1] != '\r' {
				return false
			}
		case b == '\r':
			if i+1 >= len(head) || head[i+1] != '\n' {
				return false
			}
		case b < 0x20 && b != '\t', b == 0x7f:
			return false
		}
	}
	first := bytes.Index(head, crlf)
	hosts, lengths, codings := 0, 0, 0
	for rest := head[first+2:]; len(rest) > 2; {
		end := bytes.Index(rest, crlf)
		line := rest[:end]
		rest = rest[end+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return false // also folded (obsolete) continuation lines
		}
		switch name := line[:colon]; {
		case bytes.EqualFold(name, hostName):
			hosts++
		case bytes.EqualFold(name, contentLengthName):
			lengths++
		case bytes.EqualFold(name, transferEncodingName):
			codings++
		}
	}
	// Both framings at once is how requests are smuggled: net/http's
	// answer is the reference.
	return hosts == 1 && (lengths == 0 || codings == 0)
}

var (
	crlf                 = []byte("\r\n")
	hostName             = []byte("Host")
	contentLengthName    = []byte("Content-Length")
	transferEncodingName = []byte("Transfer-Encoding")
)

// isToken reports whether b is an RFC 9110 token (a header field name).
func isToken(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// fastRequest reports whether the fast path serves req.
func fastRequest(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 {
		return false
	}
	if !commonMethod(req.Method) {
		return false
	}
	if len(req.RequestURI) == 0 || req.RequestURI[0] != '/' {
		return false
	}
	h := req.Header
	if !plainHost(req.Host) { // wellFormedHead saw exactly one Host line
		return false
	}
	if h["Expect"] != nil || h["Upgrade"] != nil || h["Trailer"] != nil || req.Trailer != nil {
		return false
	}
	if te := req.TransferEncoding; len(te) > 1 || (len(te) == 1 && te[0] != "chunked") {
		return false
	}
	return len(h["Content-Length"]) <= 1 && !listed(h["Connection"], "Upgrade")
}

// plainHost accepts a host[:port] made of letters, digits and . - : [ ] _
// only; other (valid or not) Host values go to net/http.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '.' || b == '-' || b == ':' || b == '[' || b == ']' || b == '_') {
			return false
		}
	}
	return true
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

// fastBody is a request body as the handler sees it: it records whether it
// was read to its end, and its Close does not read the rest (http.ReadRequest's
// would, without limit); what to do with an unread rest is decided when the
// response head is written (settleBody).
type fastBody struct {
	rc     io.ReadCloser
	sawEOF atomic.Bool
	closed atomic.Bool
}

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

// replayConn reads pending before the connection itself.
//
// On the connection handed to net/http (follow set) it also keeps a
// half-closed client's request alive. net/http reads the connection in the
// background while a request is served, and cancels the request's context
// when that read fails, an end of stream included; but an end of stream
// after a whole request is a half-close (shutdown(SHUT_WR), nc -N), whose
// client waits for the answer (haproxy answers it). So a read that meets
// the end of stream while net/http serves a request (ConnState active)
// whose head and body were all read (the follower is between requests)
// is held instead: it returns, with a timeout error, when net/http aborts
// it by setting a read deadline in the past (abortPendingRead, which
// expects exactly that), or when the deadline it set passes, or with an
// error when the connection is closed. Reads after that find the end of
// stream again and report it, except during the next request's service
// (a pipelined one, read before the end): net/http answers every request
// it has, then closes. A reset is no end of stream: it is reported at
// once, and cancels the request as before.
type replayConn struct {
	net.Conn
	pending []byte
	id      net.Conn  // the connection as first accepted (ConnState), or nil for Conn
	clock   bodyClock // times the reads of a request body (ConnContext)
	// follow, on the connection handed to net/http, vets each head
	// net/http reads (headFollower).
	follow *headFollower

	active   atomic.Bool // net/http serves a request (ConnState)
	mu       sync.Mutex
	deadline time.Time     // the read deadline last set
	wake     chan struct{} // closed when the deadline changes or the conn closes
	closed   bool
}

// newReplayConn returns conn with pending read first; id is the
// connection as first accepted.
func newReplayConn(conn net.Conn, pending []byte, id net.Conn) *replayConn {
	r := &replayConn{Conn: conn, pending: pending, id: id}
	r.clock.nc = conn
	return r
}

func (r *replayConn) ident() net.Conn {
	if r.id != nil {
		return r.id
	}
	return r.Conn
}

// CloseWrite shuts the write side when the connection can.
func (r *replayConn) CloseWrite() error {
	if cw, ok := r.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return r.Conn.Close()
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		if r.follow != nil {
			r.follow.feed(p[:n])
		}
		return n, nil
	}
	r.clock.beforeRead()
	n, err := r.Conn.Read(p)
	if r.follow != nil && n > 0 {
		r.follow.feed(p[:n])
	}
	if n == 0 && err == io.EOF && r.follow != nil && r.active.Load() && r.follow.between() {
		return 0, r.holdEOF()
	}
	return n, err
}

// holdEOF holds a read that met a half-close's end of stream until
// net/http aborts it with a read deadline in the past, the deadline
// passes, or the connection is closed (see replayConn).
func (r *replayConn) holdEOF() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return net.ErrClosed
		}
		var expiry *time.Timer
		var expired <-chan time.Time
		if !r.deadline.IsZero() {
			left := time.Until(r.deadline)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			expiry = time.NewTimer(left)
			expired = expiry.C
		}
		if r.wake == nil {
			r.wake = make(chan struct{})
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-expired:
		}
		if expiry != nil {
			expiry.Stop()
		}
		r.mu.Lock()
	}
}

// woken records a change of the read deadline, or the close, for a held
// read (holdEOF). r.mu is held.
func (r *replayConn) woken() {
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
}

// SetReadDeadline sets the connection's read deadline, which also ends a
// held read (holdEOF) when it is in the past or passes.
func (r *replayConn) SetReadDeadline(t time.Time) error {
	if r.follow != nil {
		r.mu.Lock()
		r.deadline = t
		r.woken()
		r.mu.Unlock()
	}
	return r.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines; the read one as SetReadDeadline.
func (r *replayConn) SetDeadline(t time.Time) error {
	if r.follow != nil {
		r.mu.Lock()
		r.deadline = t
		r.woken()
		r.mu.Unlock()
	}
	return r.Conn.SetDeadline(t)
}

// Close closes the connection and ends a held read with net.ErrClosed.
func (r *replayConn) Close() error {
	if r.follow != nil {
		r.mu.Lock()
		r.closed = true
		r.woken()
		r.mu.Unlock()
	}
	return r.Conn.Close()
}

// connQueue is a net.Listener whose connections are put by the fast path.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

// put hands c to Accept; it fails once the queue is closed.
func (q *connQueue) put(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return queueAddr{} }

type queueAddr struct{}

func (queueAddr) Network() string { return "handoff" }
func (queueAddr) String() string  { return "handoff" }
