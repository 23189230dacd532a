// Package sched lets a short, latency-critical step ask the operating
// system to run it ahead of the busy work around it.
//
// A switch is such a step: between the API receiving it and the router's
// swap it runs a fresh health round and a commit, about a millisecond of
// CPU under load. On a machine whose cores the data path and the load keep
// busy, the scheduler shares the cores fairly, and the switch's p99
// stretched to 6-10 ms in bench/switchbench. Raise gives the switch's
// thread a higher priority for those steps only: the real-time policy when
// the process may, a lower nice value otherwise. (etcd's tuning guide
// renices the whole etcd process for the same reason; here the data path
// keeps the normal priority.)
package sched

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
)

// RTPriority is the real-time priority Raise asks for first, with the
// SCHED_FIFO policy: the lowest there is, so that the kernel's own
// real-time threads still come first. A SCHED_FIFO thread runs until it
// blocks, ahead of every thread of the normal policy; a raised step must
// therefore be short and block rather than spin (the kernel keeps 5% of
// each second for the others anyway: sched_rt_runtime_us).
const RTPriority = 1

// Nice is the priority Raise asks for when the real-time policy is not
// allowed: the Linux nice value of the raised thread (lower runs first; 0
// is the default). At -10 a thread weighs about nine times a default one
// in the fair scheduler, which still shares a core with the others.
const Nice = -10

// Level is how a raised thread is scheduled.
type Level struct {
	// RealTime is set when the thread runs the real-time policy
	// (SCHED_FIFO or SCHED_RR) at Priority; otherwise it runs the normal
	// policy at nice value Nice.
	RealTime bool
	Priority int
	Nice     int
}

// String says the level for a log: "real-time priority 1" or "nice -10".
func (l Level) String() string {
	if l.RealTime {
		return fmt.Sprintf("real-time priority %d", l.Priority)
	}
	return fmt.Sprintf("nice %d", l.Nice)
}

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

// WaitReadable blocks the calling thread in poll(2) until conn has data to
// read, the deadline passes (a zero deadline means none) or ctx ends
// (noticed within 20 ms), so that the kernel wakes this very thread when
// the data comes rather than the runtime's network poller. The goroutine
// still needs one of the runtime's Ps to go on: with every P busy it waits
// for one as it would otherwise. In serve (twice as many Ps as cores) it
// took the switch's health round p99 from 2.3-2.5 to 1.4-1.6 ms at 5,000
// req/s (bench/README.md). It reports nothing: the read that follows sees
// the outcome. While it waits, the connection's deadlines set by others
// are not seen, and a Close of conn blocks until the wait ends: use it
// only on a connection the caller alone uses, with a ctx that Raised
// reports true for; elsewhere it would only tie up a thread.
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
