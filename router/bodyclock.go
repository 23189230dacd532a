package router

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// bodyClock times a client connection's reads while a request body is read
// (Options.BodyTimeout): before each read of the connection it sets the
// read deadline to the timeout from now, so the bound is each wait for
// bytes, whatever the reads of the decoded body above it do (net/http's
// chunked reader waits inside one read until a chunk ends or its buffer is
// full). Once the call being timed has ended (a drain cut it, the client
// left), it sets a deadline in the past instead, so that a cut is not
// undone. The zero value is off; nc must be set before use. It is safe for
// concurrent use (net/http reads the connection from its background read
// as well as from the handler).
type bodyClock struct {
	nc       net.Conn
	on       atomic.Bool // c != nil, read without mu by beforeRead
	mu       sync.Mutex
	c        *call         // the call whose body is read; nil when off
	timeout  time.Duration // while on
	deadline time.Time     // the last deadline set while on
	cutAll   bool          // cut: reads fail at once until stop
}

// cut makes the read in progress, and every read until stop, fail at
// once (a request body past Options.BodyDeadline).
func (k *bodyClock) cut() {
	k.mu.Lock()
	k.cutAll = true
	_ = k.nc.SetReadDeadline(time.Unix(1, 0))
	k.mu.Unlock()
}

// start times the reads for c's body.
func (k *bodyClock) start(c *call, timeout time.Duration) {
	k.mu.Lock()
	k.c, k.timeout, k.deadline = c, timeout, time.Time{}
	k.on.Store(true)
	k.mu.Unlock()
}

// stop ends the timing; lift also lifts the deadline it set (at the end of
// the body, before the connection waits for anything else). After an
// error the deadline stays: nothing more should wait on that connection.
func (k *bodyClock) stop(lift bool) {
	k.mu.Lock()
	if k.c != nil && lift {
		_ = k.nc.SetReadDeadline(time.Time{})
	}
	k.c = nil
	k.cutAll = false
	k.on.Store(false)
	k.mu.Unlock()
}

// expired reports whether the last deadline the clock set has passed: a
// read that failed on a deadline failed on this one.
func (k *bodyClock) expired() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.deadline.IsZero() && !time.Now().Before(k.deadline)
}

// beforeRead sets the deadline of the read about to be made. Off, it
// costs one atomic load: a reader that sees on stale takes mu and finds c
// as it is.
func (k *bodyClock) beforeRead() {
	if !k.on.Load() {
		return
	}
	k.mu.Lock()
	if c := k.c; c != nil {
		if c.Err() != nil || k.cutAll {
			_ = k.nc.SetReadDeadline(time.Unix(1, 0))
		} else {
			k.deadline = time.Now().Add(k.timeout)
			_ = k.nc.SetReadDeadline(k.deadline)
		}
	}
	k.mu.Unlock()
}

// clockedReader reads r's connection under its clock.
type clockedReader struct {
	k *bodyClock
	r io.Reader
}

func (cr clockedReader) Read(p []byte) (int, error) {
	cr.k.beforeRead()
	return cr.r.Read(p)
}

// bodyClockKey is the request context key of the bodyClock of the
// connection net/http serves (Server's ConnContext).
type bodyClockKey struct{}
