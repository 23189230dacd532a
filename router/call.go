package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// errDrainDeadline is the cancellation cause of requests cut at the end of a
// drain.
var errDrainDeadline = errors.New("bluegreen: drain deadline passed")

// errSlowBody ends a loop exchange whose client sent none of the rest of
// its body within Options.BodyTimeout.
var errSlowBody = errors.New("bluegreen: the client sent none of the rest of its request body in time")

// statusClientClosed is recorded (never sent) when the client went away
// before the upstream answered, as nginx does.
const statusClientClosed = 499

type callKeyType struct{}

// callKey finds the *call in a context derived from it.
var callKey any = callKeyType{}

// call is the router's record of one request: where it goes, which
// generation holds it, what came back. It is also the context of the
// request sent upstream, with a cancellation of its own that costs no
// allocation on the fast path: the drain cancels it at its deadline, the
// client going away cancels it (router.Server reports that through the
// response writer, net/http through the request's context), and the direct
// engine hangs one upstream connection on it (closeOnEnd) instead of a
// context.AfterFunc.
//
// Fields from rt to body are only touched by the goroutine serving the
// request (gen is also written under mu: see cancelIn); the cancellation
// state is under mu.
//
// A call is reused only by the event loop, and only when finish found
// that nothing but the loop ever held it (callState.reusable): transport
// goroutines (a dial) may still hold the context of any other call after
// its request ended.
type call struct {
	mu sync.Mutex
	callState
}

// callState is a call's state but its mutex, so that reuse can clear it
// in one assignment, under the mutex.
type callState struct {
	rt    *Router
	gen   *generation // nil for preview requests
	color colorIdx
	pool  *pool
	up    *upstream
	seq   uint64
	slot  int  // the generation's cancellation slot, -1 for its overflow map
	reg   bool // registered with gen for cancellation

	start  time.Time
	ttfb   time.Duration
	status int
	upErr  bool
	// clientFault marks an answer the router made because of the client
	// (refuse): counted as a client error, never as the color's.
	clientFault bool
	upgraded    bool
	body        *limitedBody
	// badBody is set when reading the client's body failed for a reason
	// of the client's (chunked framing it got wrong, a body cut short).
	badBody atomic.Bool
	// slowBody is set when the client sent none of the rest of its body
	// within Options.BodyTimeout.
	slowBody atomic.Bool

	// values answers Value and Deadline: the client request's context, or
	// a WithoutCancel view of it when it can end (so that context.Cause
	// finds no cancelCtx above the call and asks its Err).
	values     context.Context
	stopParent func() bool // stops the parent's end from ending the call

	ended   atomic.Bool   // set under mu, before done is closed
	done    chan struct{} // made by the first Done
	cause   error
	hookNC  net.Conn            // closed when the call ends (closeOnEnd)
	hookW   http.ResponseWriter // its read deadline moved to the past then
	hookSet bool
	hookRan bool
	after   []*afterFunc // context.AfterFunc and children from the standard library
	ender   callEnder    // told when the call ends by a cancel (the event loop's exchange)
	// shared records that the call was handed beyond the goroutine
	// serving it: a Done channel, an AfterFunc, an end hook, an ender told
	// of a cancel. Such a call is never reused.
	shared bool
	// reusable is set by finish when the call may serve another request
	// of the goroutine that served it: its end was its own (not a drain's,
	// a client's or a parent's), it had no parent to watch and no ender to
	// tell, and it was never shared. The one pointer to it that may remain
	// elsewhere is in a drain's copy of its generation's slots, which
	// cancelIn guards.
	reusable bool
}

// callEnder is told, once, when a call it serves is cancelled (drain
// deadline) before it was detached; callEnded must not block.
type callEnder interface{ callEnded(c *call) }

// setEnder makes e the call's ender (nil detaches it). It reports false,
// and sets nothing, when the call has already ended.
func (c *call) setEnder(e callEnder) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e != nil && c.ended.Load() {
		return false
	}
	c.ender = e
	return true
}

// afterFunc is one function registered with call.AfterFunc.
type afterFunc struct{ f func() }

// newCall returns the call of a request whose own context is parent.
func newCall(rt *Router, parent context.Context) *call {
	c := &call{callState: callState{rt: rt, slot: -1}}
	if parent.Done() == nil {
		c.values = parent // nothing above can be cancelled
		return c
	}
	c.values = context.WithoutCancel(parent)
	c.stopParent = context.AfterFunc(parent, func() { c.cancel(context.Cause(parent)) })
	return c
}

// markShared records that the call is handed beyond the goroutine serving
// it (as a dial's context, say), so that it is never reused.
func (c *call) markShared() {
	c.mu.Lock()
	c.shared = true
	c.mu.Unlock()
}

// reset clears a reusable call for a new request of rt, as
// newCall(rt, context.Background()) makes it.
func (c *call) reset(rt *Router) {
	c.mu.Lock()
	c.callState = callState{rt: rt, slot: -1, values: context.Background()}
	c.mu.Unlock()
}

// Deadline is the client request's.
func (c *call) Deadline() (time.Time, bool) { return c.values.Deadline() }

// Done returns a channel closed when the call ends.
func (c *call) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		c.shared = true
		c.done = make(chan struct{})
		if c.ended.Load() {
			close(c.done)
		}
	}
	d := c.done
	c.mu.Unlock()
	return d
}

// Err is context.Canceled once the call ended, whatever the cause.
func (c *call) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

// Value returns the call itself for callKey and defers to the client
// request's context otherwise.
func (c *call) Value(key any) any {
	if key == callKey {
		return c
	}
	return c.values.Value(key)
}

// endCause is why the call ended (errDrainDeadline, errClientGone, the
// client request context's cause, context.Canceled when the handler
// returned), or nil while it runs.
func (c *call) endCause() error {
	if !c.ended.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// cancel ends the call with cause; only the first cancel counts. Whatever
// was registered to run at the end runs in goroutines of its own, so cancel
// may be called with locks held.
func (c *call) cancel(cause error) {
	c.mu.Lock()
	c.cancelLocked(cause)
}

// cancelIn cancels the call with cause if it is still on generation g. A
// drain finds calls in g's slots, where a pointer may be stale: the call
// may have ended, and been reused by the event loop for a request on
// another generation, since the drain read it.
func (c *call) cancelIn(g *generation, cause error) {
	c.mu.Lock()
	if c.gen != g {
		c.mu.Unlock()
		return
	}
	c.cancelLocked(cause)
}

// cancelLocked is cancel with c.mu held; it unlocks it.
func (c *call) cancelLocked(cause error) {
	if c.ended.Load() {
		c.mu.Unlock()
		return
	}
	c.cause = cause
	c.ended.Store(true) // before done is closed: a closed Done means Err != nil
	if c.done != nil {
		close(c.done)
	}
	nc, w, hook := c.hookNC, c.hookW, c.hookSet
	c.hookNC, c.hookW, c.hookSet, c.hookRan = nil, nil, false, hook
	after := c.after
	c.after = nil
	ender := c.ender
	c.ender = nil
	if ender != nil {
		c.shared = true
	}
	c.mu.Unlock()
	if hook {
		go endExchange(nc, w)
	}
	if ender != nil {
		ender.callEnded(c)
	}
	for _, a := range after {
		go a.f()
	}
}

// endExchange closes an upstream connection whose request was cancelled,
// and unblocks a handler waiting for the client's body.
func endExchange(nc net.Conn, w http.ResponseWriter) {
	nc.Close()
	if w != nil {
		_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
	}
}

// closeOnEnd makes the end of the call close nc, an upstream connection,
// and, when w is not nil, move the client connection's read deadline to
// the past so a handler waiting for a slow upload returns too; at once (in
// a goroutine) if the call has already ended. It replaces what an earlier
// closeOnEnd registered; stopCloseOnEnd undoes it.
func (c *call) closeOnEnd(nc net.Conn, w http.ResponseWriter) {
	c.mu.Lock()
	c.shared = true
	if c.ended.Load() {
		c.hookNC, c.hookW, c.hookSet, c.hookRan = nil, nil, false, true
		c.mu.Unlock()
		go endExchange(nc, w)
		return
	}
	c.hookNC, c.hookW, c.hookSet, c.hookRan = nc, w, true, false
	c.mu.Unlock()
}

// stopCloseOnEnd forgets the connection of closeOnEnd. It reports false
// when the end of the call already closed it (or is closing it).
func (c *call) stopCloseOnEnd() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hookNC, c.hookW, c.hookSet = nil, nil, false
	return !c.hookRan
}

// AfterFunc runs f in its own goroutine when the call ends, as
// context.AfterFunc does; the standard library finds this method when it
// derives contexts from the call (the Transport of the ReverseProxy engine,
// dials), instead of starting a goroutine to wait for Done.
func (c *call) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	c.shared = true
	if c.ended.Load() {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.after = append(c.after, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, b := range c.after {
			if b == a {
				c.after = append(c.after[:i], c.after[i+1:]...)
				return true
			}
		}
		return false
	}
}

// callFrom finds the call in ctx, or nil.
func callFrom(ctx context.Context) *call {
	if c, ok := ctx.(*call); ok {
		return c
	}
	c, _ := ctx.Value(callKey).(*call)
	return c
}

// responded records the upstream's final response headers: status and
// time to first byte, and stamps the color header on h. Engines call it
// before the headers are copied to the client; one that writes the head
// without a header map passes nil and writes the color header itself.
func (c *call) responded(status int, h http.Header) {
	c.status = status
	c.ttfb = time.Since(c.start)
	c.upgraded = status == http.StatusSwitchingProtocols
	if h != nil && c.rt.opts.ColorHeader {
		h[headerColor] = colorValue[c.color]
	}
}

// refuse records that the router answers the request itself with status
// because of the client: the answer is not the color's (ColorStats).
func (c *call) refuse(status int) {
	c.status = status
	c.clientFault = true
}

// fail answers a request that got no response from its upstream. Engines
// call it instead of responded.
func (c *call) fail(w http.ResponseWriter, err error) {
	c.ttfb = time.Since(c.start)
	cause := c.endCause()
	var tooLarge *http.MaxBytesError
	switch {
	case (c.body != nil && c.body.exceeded.Load()) || errors.As(err, &tooLarge):
		c.refuse(http.StatusRequestEntityTooLarge)
		c.rt.writeError(w, c.color, c.status, bodyTooLarge, true)
	case errors.Is(err, errSpool):
		// The router's own failure, not the app's: it does not count
		// against the color.
		c.refuse(http.StatusInternalServerError)
		c.log(slog.LevelError, "buffering a request body", err)
		c.rt.writeError(w, c.color, c.status, spoolFailed, true)
	case cause == errDrainDeadline:
		c.status = http.StatusGatewayTimeout
		c.log(slog.LevelInfo, "request cut at the drain deadline", err)
		if !c.upgraded {
			c.rt.writeError(w, c.color, c.status, c.rt.drainCut[c.color], false)
		}
	case c.slowBody.Load():
		// Before the client gone: net/http cancels the request once a
		// read of the connection timed out. The client is still there
		// to be told; the connection closes (its framing is lost).
		c.refuse(http.StatusRequestTimeout)
		c.log(slog.LevelInfo, "request body too slow", err)
		if !c.upgraded {
			c.rt.writeError(w, c.color, c.status, slowRequestBody, true)
		}
	case cause != nil:
		// The client went away; nobody is left to answer.
		c.refuse(statusClientClosed)
		c.log(slog.LevelDebug, "client gone", err)
		if !isOwnWriter(w) {
			// net/http would answer 200 with an empty body once the
			// handler returns without writing (a client still reading
			// would take it for the answer): abort the response instead.
			panic(http.ErrAbortHandler)
		}
	case c.badBody.Load():
		// The client's body could not be read: its fault, not the
		// upstream's (a 502 here would count against the color, and a
		// client could fail a post-switch watch at will). Its framing is
		// lost, so the connection closes.
		c.refuse(http.StatusBadRequest)
		c.log(slog.LevelInfo, "bad request body", err)
		if !c.upgraded {
			c.rt.writeError(w, c.color, c.status, badRequestBody, true)
		}
	default:
		c.status = http.StatusBadGateway
		c.upErr = true
		c.log(slog.LevelWarn, "upstream unavailable", err)
		if !c.upgraded {
			body := c.pool.none
			if c.up != nil {
				body = c.up.down
			}
			c.rt.writeError(w, c.color, c.status, body, false)
		}
	}
}

func (c *call) log(level slog.Level, msg string, err error) {
	log := c.rt.log
	if !log.Enabled(context.Background(), level) {
		return
	}
	addr := ""
	if c.up != nil {
		addr = c.up.addr
	}
	log.LogAttrs(context.Background(), level, msg,
		slog.String("color", c.color.color().String()),
		slog.String("upstream", addr),
		slog.Any("error", err))
}

// finish ends the request: it leaves the drain's cancellation set, releases
// the context, records the counters and finally releases the generation (so
// a drain that sees zero also sees the counters). It runs deferred, also
// when the engine aborts the handler with http.ErrAbortHandler.
func (c *call) finish() {
	if c.stopParent != nil {
		c.stopParent()
	}
	if c.reg {
		c.gen.unregister(c)
	}
	c.mu.Lock()
	c.reusable = !c.ended.Load() && !c.shared && c.stopParent == nil && c.ender == nil
	c.cancelLocked(context.Canceled)
	if c.ttfb == 0 {
		c.ttfb = time.Since(c.start)
	}
	c.rt.stats[c.color].done(c.status, c.ttfb, c.upErr, c.clientFault)
	if c.gen != nil {
		c.gen.release()
	}
}

// ownWriter is implemented by the router's own response writers (the fast
// path's and the event loop's), which send nothing for a request that ends
// without a response; net/http's sends a 200.
type ownWriter interface{ ownWriter() }

// isOwnWriter reports whether w is one of the router's own writers.
func isOwnWriter(w http.ResponseWriter) bool {
	_, ok := w.(ownWriter)
	return ok
}

// clientBody times the reads of the client's body (Options.BodyTimeout)
// and marks its call when a read fails for a reason of the client's
// (anything but the end of the body, while the request is still on):
// slowBody when the deadline passed, badBody otherwise, so that the failure
// is answered 408 or 400 and not put down to the upstream. With clock (the
// connection's, on the router's own Server) each read of the connection
// gets the timeout; otherwise (ctl, the request's ResponseController) each
// read of the body does. The deadline is lifted at the end of the body,
// before the connection waits for anything else; after an error it stays,
// so that nothing (net/http's drain of an unread body) waits on a
// connection that is done.
type clientBody struct {
	rc      io.ReadCloser
	c       *call
	clock   *bodyClock
	ctl     *http.ResponseController
	timeout time.Duration
	started bool
	ended   bool
	cutAll  atomic.Bool // cut: every read from now on fails at once
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.ended {
		return b.rc.Read(p)
	}
	var deadline time.Time // this read's, without a clock
	if b.clock != nil {
		if !b.started {
			b.started = true
			b.clock.start(b.c, b.timeout)
		}
	} else if d := time.Now().Add(b.timeout); b.ctl.SetReadDeadline(d) == nil {
		deadline = d
		if b.c.Err() != nil || b.cutAll.Load() {
			// The call ended (a drain cut it, the client left) and may
			// have moved the deadline into the past just before the line
			// above moved it forward: the read must not wait.
			_ = b.ctl.SetReadDeadline(time.Unix(1, 0))
		}
	}
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	b.ended = true
	// This body's deadline passed, not one set in the past to end the
	// call (closeOnEnd). net/http cancels the request's context on such an
	// error, which must not be taken for the client gone.
	slow := errors.Is(err, os.ErrDeadlineExceeded) &&
		((b.clock != nil && b.clock.expired()) || (!deadline.IsZero() && !time.Now().Before(deadline)))
	lift := err == io.EOF
	if b.clock != nil {
		b.clock.stop(lift)
	} else if lift && !deadline.IsZero() {
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
	switch {
	case lift:
	case slow:
		b.c.slowBody.Store(true)
	case b.c.Err() == nil:
		b.c.badBody.Store(true)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// cut ends the reading of the body now, as too slow (Options.BodyDeadline):
// the read in progress, or the next, fails and the call is answered 408.
func (b *clientBody) cut() {
	b.c.slowBody.Store(true)
	b.cutAll.Store(true)
	if b.clock != nil {
		b.clock.cut()
	} else {
		_ = b.ctl.SetReadDeadline(time.Unix(1, 0))
	}
}

// limitedBody is http.MaxBytesReader with a flag the error path can read:
// the transport may report a body read error in several shapes, but the
// flag says for sure that the client sent too much.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	limit    int64
	err      error
	exceeded atomic.Bool // read by the handler while the transport reads the body
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read one byte more than allowed to see whether there is more.
	if int64(len(p))-1 > l.left {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	if int64(n) <= l.left {
		l.left -= int64(n)
		l.err = err
		return n, err
	}
	n = int(l.left)
	l.left = 0
	l.exceeded.Store(true)
	l.err = &http.MaxBytesError{Limit: l.limit}
	return n, l.err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
