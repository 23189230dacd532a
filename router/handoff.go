package router

// This file holds the hand-off of a connection to net/http: replayConn,
// which replays the bytes already read (and holds a half-closed client's
// end of stream), and connQueue, the listener that http.Server accepts
// handed-off connections from.

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

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

// Read returns the pending bytes first, then reads the connection,
// feeding what it reads to the follower; it holds a half-close's end of
// stream while net/http serves a whole request (holdEOF).
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

// Accept returns the next connection put, or net.ErrClosed when the queue
// is closed.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and put fail from now on; it may be called more than
// once and always returns nil.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr is a placeholder address: the queue listens on no socket.
func (q *connQueue) Addr() net.Addr { return queueAddr{} }

// queueAddr is connQueue's address, named "handoff" on the "handoff"
// network.
type queueAddr struct{}

func (queueAddr) Network() string { return "handoff" }
func (queueAddr) String() string  { return "handoff" }
