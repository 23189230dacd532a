package router

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// waitDone fails t unless ch is closed within a few seconds.
func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not done", what)
	}
}

// TestCallContext checks the call's own cancellation against the
// context.Context contract and the standard library's helpers, which must
// see it as an ordinary cancellable context.
func TestCallContext(t *testing.T) {
	rt := newTestRouter(t)
	c := newCall(rt, context.Background())
	if c.Err() != nil || c.endCause() != nil {
		t.Fatalf("a new call has ended: %v, %v", c.Err(), c.endCause())
	}
	if callFrom(c) != c || callFrom(context.WithValue(c, struct{}{}, 1)) != c {
		t.Fatal("callFrom does not find the call")
	}
	child, stopChild := context.WithCancel(c)
	defer stopChild()
	ran := make(chan struct{})
	context.AfterFunc(c, func() { close(ran) })
	stopped := context.AfterFunc(c, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped() {
		t.Fatal("stop of a pending AfterFunc reported false")
	}
	done := c.Done()
	select {
	case <-done:
		t.Fatal("Done closed before the end")
	default:
	}

	c.cancel(errDrainDeadline)
	c.cancel(errClientGone) // only the first counts
	waitDone(t, done, "Done")
	waitDone(t, child.Done(), "a child context")
	waitDone(t, ran, "AfterFunc")
	if c.Err() != context.Canceled || c.endCause() != errDrainDeadline {
		t.Fatalf("after cancel: Err %v, cause %v", c.Err(), c.endCause())
	}
	if err := context.Cause(c); err != context.Canceled {
		t.Fatalf("context.Cause = %v, want context.Canceled", err)
	}
	waitDone(t, c.Done(), "Done asked after the end")
	late := make(chan struct{})
	if context.AfterFunc(c, func() { close(late) })() {
		t.Fatal("stop of an AfterFunc registered after the end reported true")
	}
	waitDone(t, late, "AfterFunc registered after the end")
}

// TestCallEndsWithItsParent: a call on a request context that can end
// (net/http's) ends with it and its cause, and context.Cause on the call
// does not read the parent's cancelCtx while the call runs.
func TestCallEndsWithItsParent(t *testing.T) {
	rt := newTestRouter(t)
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), callKeyType{}, "x"))
	c := newCall(rt, parent)
	if c.Value(callKey) != c {
		t.Fatal("Value(callKey) is not the call")
	}
	if context.Cause(c) != nil {
		t.Fatalf("context.Cause of a running call = %v", context.Cause(c))
	}
	gone := errors.New("client gone")
	cancel(gone)
	waitDone(t, c.Done(), "the call after its parent ended")
	if c.endCause() != gone {
		t.Fatalf("cause %v, want the parent's", c.endCause())
	}

	// finish stops the propagation: a parent ending later changes nothing.
	parent2, cancel2 := context.WithCancelCause(context.Background())
	c2 := newCall(rt, parent2)
	c2.finish()
	cancel2(gone)
	if c2.endCause() != context.Canceled {
		t.Fatalf("cause after finish %v, want context.Canceled", c2.endCause())
	}
}

// TestCallClosesTheUpstreamConnection: the connection registered with
// closeOnEnd is closed when the call ends, unless stopCloseOnEnd came
// first; stopCloseOnEnd reports which happened.
func TestCallClosesTheUpstreamConnection(t *testing.T) {
	rt := newTestRouter(t)
	pipe := func() (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	closed := func(peer net.Conn) <-chan struct{} {
		ch := make(chan struct{})
		go func() {
			var buf [1]byte
			peer.Read(buf[:]) // returns when the other end closes
			close(ch)
		}()
		return ch
	}

	c := newCall(rt, context.Background())
	a, _ := pipe()
	c.closeOnEnd(a, nil)
	if !c.stopCloseOnEnd() {
		t.Fatal("stopCloseOnEnd before the end reported false")
	}
	a2, b2 := pipe()
	c.closeOnEnd(a2, nil) // a retry on another connection
	c.cancel(errDrainDeadline)
	waitDone(t, closed(b2), "the registered connection")
	if c.stopCloseOnEnd() {
		t.Fatal("stopCloseOnEnd after the end closed the connection reported true")
	}
	a.SetReadDeadline(time.Now()) // open: the read ends at the deadline
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection unregistered before the end: read %v, want a deadline error", err)
	}

	// Registered after the end: closed at once.
	a3, b3 := pipe()
	c.closeOnEnd(a3, nil)
	waitDone(t, closed(b3), "a connection registered after the end")
	if c.stopCloseOnEnd() {
		t.Fatal("stopCloseOnEnd reported true for a connection closed at registration")
	}
}

// nopEnder is a callEnder that does nothing.
type nopEnder struct{}

func (nopEnder) callEnded(*call) {}

// TestCallReuse: only a call that ended by its own finish and was never
// handed beyond the goroutine serving it is reusable; reset makes it a new
// call; and a drain holding a stale pointer to it (cancelIn on its old
// generation) does not cancel the request it serves next.
func TestCallReuse(t *testing.T) {
	rt := newTestRouter(t)
	begun := func() *call {
		c := newCall(rt, context.Background())
		rt.start(c, false)
		return c
	}

	c := begun()
	g1 := c.gen
	c.reg = true
	g1.register(c, 0)
	c.finish()
	if !c.reusable {
		t.Fatal("a call that ended by its own finish is not reusable")
	}
	c.reset(rt)
	if c.Err() != nil || c.endCause() != nil || c.gen != nil || c.reg || c.slot != -1 || c.status != 0 {
		t.Fatalf("reset left state behind: err %v, cause %v, gen %p, reg %v, slot %d, status %d",
			c.Err(), c.endCause(), c.gen, c.reg, c.slot, c.status)
	}
	rt.Switch(bluegreen.Green) // retires g1
	rt.start(c, false)
	if c.gen == g1 {
		t.Fatal("the reused call began on the retired generation")
	}
	c.cancelIn(g1, errDrainDeadline) // a drain that read the old slot
	if c.Err() != nil {
		t.Fatalf("a stale drain cancel ended the reused call: %v", c.endCause())
	}
	c.cancelIn(c.gen, errDrainDeadline)
	if c.endCause() != errDrainDeadline {
		t.Fatalf("a cancel on the call's own generation: cause %v", c.endCause())
	}
	c.finish()
	if c.reusable {
		t.Fatal("a call a drain cancelled is reusable")
	}

	shares := []struct {
		name  string
		share func(c *call)
	}{
		{"Done", func(c *call) { c.Done() }},
		{"AfterFunc", func(c *call) { context.AfterFunc(c, func() {})() }},
		{"a derived context", func(c *call) {
			_, cancel := context.WithTimeout(c, time.Hour)
			cancel()
		}},
		{"an ender told of a cancel", func(c *call) {
			c.setEnder(nopEnder{})
			c.cancel(errClientGone)
		}},
		{"an end hook", func(c *call) {
			a, b := net.Pipe()
			defer b.Close()
			c.closeOnEnd(a, nil)
			c.stopCloseOnEnd()
			a.Close()
		}},
	}
	for _, s := range shares {
		c := begun()
		s.share(c)
		c.finish()
		if c.reusable {
			t.Errorf("a call shared by %s is reusable", s.name)
		}
	}
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	c = newCall(rt, parent)
	c.finish()
	if c.reusable {
		t.Error("a call on a request context that can end is reusable")
	}
}
