package router

import (
	"sync"
	"sync/atomic"
	"time"
)

// The state word of a generation: the low bits count requests in flight,
// two high bits record that the generation was retired (a switch replaced
// it) and cancelled (its drain deadline passed). Keeping the three in one
// word makes "count at the swap" and "count at the deadline" exact: each is
// the count read by the same atomic operation that set the bit.
const (
	retiredBit = int64(1) << 62
	cancelBit  = int64(1) << 61
	countMask  = cancelBit - 1
)

// Cancellation slots: a request registers its cancel function in a free slot
// so that the drain can cut it at the deadline. Slots are claimed with a CAS,
// starting at a cache line chosen by the request's sequence number, so that
// concurrent requests rarely touch the same line. When no slot is free within
// slotProbe tries (more than ~slotCount requests in flight on one
// generation), the request goes to a mutex-guarded overflow set.
const (
	slotCount = 2048 // a power of two
	slotLine  = 8    // pointers per 64-byte cache line
	slotProbe = 32
)

// generation is one period during which a color was live on the public
// listener: from the switch that made it live to the switch that replaced
// it. Public requests hold the generation they started on until they end;
// the drain of a switch waits for the old generation's count to reach zero.
type generation struct {
	color colorIdx
	state atomic.Int64

	zero     chan struct{} // closed once retired with nothing in flight
	zeroOnce atomic.Bool
	zeroAt   time.Time // written before zero is closed

	slots      [slotCount]atomic.Pointer[call]
	overflowMu sync.Mutex
	overflow   map[*call]struct{}
}

func newGeneration(c colorIdx) *generation {
	return &generation{color: c, zero: make(chan struct{})}
}

// acquire counts one more request in flight, unless the generation was
// retired, in which case the caller must load the current table again.
// A CAS loop (rather than an add and an undo) keeps retired generations
// from ever counting requests that will not run on them.
func (g *generation) acquire() bool {
	for {
		s := g.state.Load()
		if s&retiredBit != 0 {
			return false
		}
		if g.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// release ends one request counted by acquire.
func (g *generation) release() {
	s := g.state.Add(-1)
	if s&countMask == 0 && s&retiredBit != 0 {
		g.signalZero()
	}
}

// retire marks the generation replaced and returns how many requests were
// in flight at that moment. After retire, acquire fails, so the count can
// only go down.
func (g *generation) retire() int64 {
	old := g.state.Or(retiredBit)
	n := old & countMask
	if n == 0 {
		g.signalZero()
	}
	return n
}

func (g *generation) signalZero() {
	if g.zeroOnce.CompareAndSwap(false, true) {
		g.zeroAt = time.Now()
		close(g.zero)
	}
}

// inFlight returns the current count.
func (g *generation) inFlight() int64 { return g.state.Load() & countMask }

// register makes c cancellable by cancelOpen. If the generation was already
// cancelled, c is cancelled at once: either cancelOpen sees c in its slot or
// c sees the cancel bit (both are sequentially consistent atomics).
func (g *generation) register(c *call, hint uint64) {
	c.slot = -1
	base := hint * slotLine
	for i := uint64(0); i < slotProbe; i++ {
		idx := int((base + i) & (slotCount - 1))
		if g.slots[idx].CompareAndSwap(nil, c) {
			c.slot = idx
			break
		}
	}
	if c.slot < 0 {
		g.overflowMu.Lock()
		if g.overflow == nil {
			g.overflow = make(map[*call]struct{})
		}
		g.overflow[c] = struct{}{}
		g.overflowMu.Unlock()
	}
	if g.state.Load()&cancelBit != 0 {
		c.cancel(errDrainDeadline)
	}
}

// unregister undoes register.
func (g *generation) unregister(c *call) {
	if c.slot >= 0 {
		g.slots[c.slot].Store(nil)
		return
	}
	g.overflowMu.Lock()
	delete(g.overflow, c)
	g.overflowMu.Unlock()
}

// cancelOpen cancels every request still in flight and returns how many
// there were at that moment. Requests that have not registered yet cancel
// themselves in register.
func (g *generation) cancelOpen() int64 {
	old := g.state.Or(cancelBit)
	for i := range g.slots {
		if c := g.slots[i].Load(); c != nil {
			c.cancelIn(g, errDrainDeadline)
		}
	}
	g.overflowMu.Lock()
	for c := range g.overflow {
		c.cancelIn(g, errDrainDeadline)
	}
	g.overflowMu.Unlock()
	return old & countMask
}
