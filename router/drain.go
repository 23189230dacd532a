package router

import (
	"context"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Switch makes color to live. New public requests go to it from the moment
// the new routing table is stored (one atomic pointer swap); from the same
// moment the preview handler serves the old live color. Client connections
// are not touched: a kept-alive connection simply sends its next request to
// the new color. Requests in flight on the old color continue; the returned
// Drain follows them. Switching to the color that is already live does
// nothing and returns a Drain that is already over.
//
// Switch is safe for concurrent use (switches are serialised). It panics if
// to is not a valid color, which is a programming error.
func (rt *Router) Switch(to bluegreen.Color) *Drain {
	if !to.Valid() {
		panic("router: Switch to invalid color " + string(to))
	}
	ti := indexOf(to)
	rt.switchMu.Lock()
	old := rt.table.Load()
	if old.live == ti {
		rt.switchMu.Unlock()
		return &Drain{res: DrainResult{From: to, To: to}}
	}
	swapped := time.Now()
	rt.table.Store(&table{live: ti, public: newGeneration(ti), since: swapped})
	n := old.public.retire()
	rt.switchMu.Unlock()
	rt.log.Info("switched", "from", old.live.color(), "to", to, "in_flight", n)
	return &Drain{
		gen: old.public,
		res: DrainResult{From: old.live.color(), To: to, SwappedAt: swapped, InFlightAtSwap: n},
	}
}

// Drain follows the requests that were in flight on the old live color
// when a switch happened. Its methods are safe for concurrent use.
type Drain struct {
	gen *generation // nil for a switch that changed nothing

	mu     sync.Mutex
	waited bool
	res    DrainResult
}

// DrainResult reports a drain.
type DrainResult struct {
	// From is the color that was live before the switch, To the new one.
	// They are equal when the switch changed nothing.
	From, To bluegreen.Color
	// SwappedAt is when new requests started to go to To (zero when the
	// switch changed nothing).
	SwappedAt time.Time
	// InFlightAtSwap is how many public requests were in flight on From at
	// the swap; Finished of them completed on their own and Cancelled were
	// still open at the deadline and were cut. Finished+Cancelled ==
	// InFlightAtSwap.
	InFlightAtSwap, Finished, Cancelled int64
	// Duration is the time from the swap to the end of the drain (the last
	// request finishing, or the deadline).
	Duration time.Duration
	// Timeout is the deadline Wait was given.
	Timeout time.Duration
}

// Report converts r to the domain's DrainReport.
func (r DrainResult) Report() bluegreen.DrainReport {
	return bluegreen.DrainReport{
		InFlight:   r.InFlightAtSwap,
		Finished:   r.Finished,
		Cancelled:  r.Cancelled,
		DurationMS: bluegreen.Milliseconds(r.Duration),
		TimeoutMS:  bluegreen.Milliseconds(r.Timeout),
	}
}

// Wait ends the drain: it waits until no request is in flight on the old
// color, or until timeout has passed or ctx is done, whichever comes first.
// In the two latter cases it cancels the requests still open (their
// upstream exchange is aborted: a request waiting for its response gets a
// 504, a stream or an upgraded connection is closed) and reports them as
// Cancelled. A timeout <= 0 cancels at once whatever is open.
//
// Wait returns without waiting for the cancelled requests to unwind. The
// first call decides the result; later calls return the same result (a
// concurrent call waits for the first one). The waiting does not use
// polling: it blocks on a channel closed when the count reaches zero.
func (d *Drain) Wait(ctx context.Context, timeout time.Duration) DrainResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.waited {
		return d.res
	}
	d.waited = true
	d.res.Timeout = timeout
	g := d.gen
	if g == nil {
		return d.res
	}
	if !d.waitZero(ctx, timeout) {
		open := g.cancelOpen()
		if open > 0 {
			d.res.Cancelled = open
			d.res.Finished = d.res.InFlightAtSwap - open
			d.res.Duration = time.Since(d.res.SwappedAt)
			return d.res
		}
		// The last request ended as the deadline passed; its release is
		// closing the zero channel right now.
		<-g.zero
	}
	d.res.Finished = d.res.InFlightAtSwap
	d.res.Duration = g.zeroAt.Sub(d.res.SwappedAt)
	return d.res
}

// waitZero reports whether the old generation emptied before the deadline.
func (d *Drain) waitZero(ctx context.Context, timeout time.Duration) bool {
	zero := d.gen.zero
	select {
	case <-zero:
		return true
	default:
	}
	if timeout <= 0 {
		return false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-zero:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// Done returns a channel closed when nothing is in flight on the old color
// any more (at once for a switch that changed nothing). It does not end the
// drain: call Wait for that.
func (d *Drain) Done() <-chan struct{} {
	if d.gen == nil {
		return closedChan
	}
	return d.gen.zero
}

// InFlight returns how many requests are still in flight on the old color.
func (d *Drain) InFlight() int64 {
	if d.gen == nil {
		return 0
	}
	return d.gen.inFlight()
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
