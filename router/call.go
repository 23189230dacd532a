package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// errDrainDeadline is the cancellation cause of requests cut at the end of a
// drain.
var errDrainDeadline = errors.New("bluegreen: drain deadline passed")

// statusClientClosed is recorded (never sent) when the client went away
// before the upstream answered, as nginx does.
const statusClientClosed = 499

type callKeyType struct{}

// callKey finds the *call in a context derived from it.
var callKey any = callKeyType{}

// call is the router's record of one request: where it goes, which
// generation holds it, what came back. It is also the outgoing request's
// context (it embeds a cancellable child of the client's request context),
// so the engine's hooks can find it and the drain can cancel it.
//
// Fields other than the embedded context and cancel are only touched by the
// goroutine serving the request; calls are never reused, because transport
// goroutines may still hold the context after the handler returns.
type call struct {
	context.Context
	cancel context.CancelCauseFunc

	rt    *Router
	gen   *generation // nil for preview requests
	color colorIdx
	pool  *pool
	up    *upstream
	seq   uint64
	slot  int

	start    time.Time
	ttfb     time.Duration
	status   int
	upErr    bool
	upgraded bool
	body     *limitedBody
}

// Value returns the call itself for callKey and defers to the parent
// context otherwise.
func (c *call) Value(key any) any {
	if key == callKey {
		return c
	}
	return c.Context.Value(key)
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
// time to first byte, and stamps the color header on them. Engines call it
// before the headers are copied to the client.
func (c *call) responded(status int, h http.Header) {
	c.status = status
	c.ttfb = time.Since(c.start)
	c.upgraded = status == http.StatusSwitchingProtocols
	if c.rt.opts.ColorHeader {
		h[headerColor] = colorValue[c.color]
	}
}

// fail answers a request that got no response from its upstream. Engines
// call it instead of responded.
func (c *call) fail(w http.ResponseWriter, err error) {
	c.ttfb = time.Since(c.start)
	var cause error
	if c.Context != nil {
		cause = context.Cause(c.Context)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case (c.body != nil && c.body.exceeded.Load()) || errors.As(err, &tooLarge):
		c.status = http.StatusRequestEntityTooLarge
		c.rt.writeError(w, c.color, c.status, bodyTooLarge, true)
	case cause == errDrainDeadline:
		c.status = http.StatusGatewayTimeout
		c.log(slog.LevelInfo, "request cut at the drain deadline", err)
		if !c.upgraded {
			c.rt.writeError(w, c.color, c.status, c.rt.drainCut[c.color], false)
		}
	case cause != nil:
		// The client went away; nobody is left to answer.
		c.status = statusClientClosed
		c.log(slog.LevelDebug, "client gone", err)
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
	if c.cancel != nil {
		if c.gen != nil {
			c.gen.unregister(c)
		}
		c.cancel(context.Canceled)
	}
	if c.ttfb == 0 {
		c.ttfb = time.Since(c.start)
	}
	c.rt.stats[c.color].done(c.status, c.ttfb, c.upErr)
	if c.gen != nil {
		c.gen.release()
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
