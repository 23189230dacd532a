// Package sched lets a short, latency-critical step ask the operating
// system to run it ahead of the busy work around it.
//
// A switch is such a step: from the moment the API receives it until the
// router swaps, it runs a fresh health round and a commit, a millisecond
// or so of CPU in all. On a machine whose cores the data path and the load
// keep busy, the scheduler shares the cores fairly, and that millisecond
// stretched to 5-8 ms at the 99th percentile in bench/switchbench. Raise
// gives the switch's thread a higher priority for that span only, the
// practice etcd documents for its own latency-critical threads.
package sched

import (
	"context"
	"net"
	"syscall"
	"time"
)

// Nice is the priority Raise asks for: the Linux nice value of the raised
// thread (lower runs first; 0 is the default). At -10 a thread weighs
// about nine times a default one in the fair scheduler.
const Nice = -10

type raisedKey struct{}

// Raised reports whether ctx was returned by Raise: the goroutine holding
// it runs on a raised thread, and a wait for the network is better spent
// blocked on that thread (WaitReadable) than parked in the runtime's
// poller, whose own thread is not raised.
func Raised(ctx context.Context) bool {
	v, _ := ctx.Value(raisedKey{}).(bool)
	return v
}

// Without returns ctx as not raised, for work it starts on other
// goroutines, which do not run on the raised thread.
func Without(ctx context.Context) context.Context {
	if !Raised(ctx) {
		return ctx
	}
	return context.WithValue(ctx, raisedKey{}, false)
}

// WaitReadable blocks the calling thread until conn has data to read, the
// deadline passes (a zero deadline means none) or ctx ends, so that the
// kernel wakes this very thread when the data comes. It reports nothing:
// the read that follows sees the outcome. Use it only with a ctx that
// Raised reports true for; elsewhere it would only tie up a thread.
func WaitReadable(ctx context.Context, conn net.Conn, deadline time.Time) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { waitReadable(ctx, fd, deadline) })
}
