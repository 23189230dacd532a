package router

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

func newTestRouter(t *testing.T) *Router {
	t.Helper()
	rt, err := New(Options{}, bluegreen.Blue, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestDrainCountsExactly holds requests on the live generation, switches,
// and follows the count down.
func TestDrainCountsExactly(t *testing.T) {
	rt := newTestRouter(t)
	var held []*generation
	for range 5 {
		held = append(held, rt.acquire())
	}
	d := rt.Switch(bluegreen.Green)
	if g := rt.acquire(); g.color != indexOf(bluegreen.Green) {
		t.Fatal("acquire after the switch returned the old generation")
	} else {
		g.release()
	}
	if d.res.InFlightAtSwap != 5 || d.InFlight() != 5 {
		t.Fatalf("in flight at swap %d, now %d; want 5", d.res.InFlightAtSwap, d.InFlight())
	}
	for _, g := range held[:3] {
		g.release()
	}
	select {
	case <-d.Done():
		t.Fatal("Done closed with requests in flight")
	default:
	}
	for _, g := range held[3:] {
		g.release()
	}
	recv(t, d.Done(), time.Second, "Done after the last release")
	res := d.Wait(context.Background(), time.Hour)
	if res.Finished != 5 || res.Cancelled != 0 || res.Duration < 0 {
		t.Fatalf("result %+v", res)
	}
}

// TestDrainEmptyAtSwap: nothing in flight, Wait returns at once.
func TestDrainEmptyAtSwap(t *testing.T) {
	rt := newTestRouter(t)
	res := rt.Switch(bluegreen.Green).Wait(context.Background(), time.Hour)
	if res.InFlightAtSwap != 0 || res.Finished != 0 || res.Cancelled != 0 || res.Duration > time.Second {
		t.Fatalf("result %+v", res)
	}
}

// TestDrainCancelsAtDeadline registers more requests than there are slots
// (so the overflow set is used too), lets the deadline pass (ctx), and
// checks that each one is cancelled, and that a request registering after
// the deadline cancels itself.
func TestDrainCancelsAtDeadline(t *testing.T) {
	rt := newTestRouter(t)
	n := slotCount + 100
	calls := make([]*call, n)
	for i := range calls {
		g := rt.acquire()
		calls[i] = newCall(rt, context.Background())
		calls[i].gen = g
		if i < n-1 {
			g.register(calls[i], uint64(i%7)) // crowd a few lines
		}
	}
	d := rt.Switch(bluegreen.Green)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := d.Wait(ctx, time.Hour)
	if res.InFlightAtSwap != int64(n) || res.Cancelled != int64(n) || res.Finished != 0 {
		t.Fatalf("result %+v, want %d cancelled", res, n)
	}
	for i, c := range calls[:n-1] {
		if c.endCause() != errDrainDeadline {
			t.Fatalf("call %d (slot %d) not cancelled: %v", i, c.slot, c.endCause())
		}
	}
	late := calls[n-1]
	late.gen.register(late, 0)
	if late.endCause() != errDrainDeadline {
		t.Fatal("a request registering after the deadline was not cancelled")
	}
	overflow := 0
	for _, c := range calls {
		if c.slot < 0 {
			overflow++
		}
		c.gen.unregister(c)
		c.gen.release()
	}
	if overflow == 0 {
		t.Fatal("overflow set not exercised")
	}
	recv(t, d.Done(), time.Second, "Done after the cancelled requests ended")
	if g := calls[0].gen; len(g.overflow) != 0 {
		t.Fatalf("overflow set not emptied: %d", len(g.overflow))
	}
	for i := range calls[0].gen.slots {
		if calls[0].gen.slots[i].Load() != nil {
			t.Fatalf("slot %d not emptied", i)
		}
	}
}

// TestGenerationRace runs acquirers against a stream of switches. The
// invariant: once a drain's Done is closed, no request holds that
// generation; every drain sees all its requests finish.
func TestGenerationRace(t *testing.T) {
	rt := newTestRouter(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var violations, acquired atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				g := rt.acquire()
				acquired.Add(1)
				if g.state.Load()&retiredBit != 0 {
					select {
					case <-g.zero:
						violations.Add(1)
					default:
					}
				}
				g.release()
				runtime.Gosched()
			}
		}()
	}
	const switches = 200
	to := bluegreen.Blue
	var atSwap int64
	for range switches {
		mark := acquired.Load()
		testenv.WaitFor(t, 5*time.Second, "acquisitions", func() bool { return acquired.Load() > mark+10 })
		to = to.Other()
		res := rt.Switch(to).Wait(context.Background(), 10*time.Second)
		if res.Cancelled != 0 || res.Finished != res.InFlightAtSwap {
			t.Fatalf("drain %+v", res)
		}
		atSwap += res.InFlightAtSwap
	}
	close(stop)
	wg.Wait()
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d requests held a generation after its drain reported zero", v)
	}
	if n := rt.table.Load().public.inFlight(); n != 0 {
		t.Fatalf("live generation count %d after all requests ended", n)
	}
	t.Logf("%d acquisitions, %d in flight over %d swaps", acquired.Load(), atSwap, switches)
}

func TestHistogramQuantile(t *testing.T) {
	var s colorStats
	for range 90 {
		s.inFlight.Add(1)
		s.done(200, 3*time.Millisecond, false, false)
	}
	for range 10 {
		s.inFlight.Add(1)
		s.done(500, 2*time.Second, false, false)
	}
	h := s.snapshot().Latency
	if h.Count != 100 || h.Counts[0] != 90 {
		t.Fatalf("histogram %+v", h)
	}
	if q := h.Quantile(0.5); q <= 0 || q > 0.005 {
		t.Fatalf("p50 = %v, want within the first bucket", q)
	}
	if q := h.Quantile(0.99); q <= 1 || q > 2.5 {
		t.Fatalf("p99 = %v, want in (1, 2.5]", q)
	}
	if q := (Histogram{}).Quantile(0.5); q == q {
		t.Fatalf("empty histogram quantile = %v, want NaN", q)
	}
	if sn := s.snapshot(); sn.Status[1] != 90 || sn.Status[4] != 10 || sn.InFlight != 0 {
		t.Fatalf("snapshot %+v", sn)
	}
}
