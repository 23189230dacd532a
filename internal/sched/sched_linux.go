package sched

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Raise pins the calling goroutine to its OS thread and raises that
// thread: to the real-time policy SCHED_FIFO at RTPriority when the process
// may (CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least RTPriority: systemd's
// LimitRTPRIO=), and otherwise to the nice value Nice, or as far towards it
// as the process may (CAP_SYS_NICE allows any; otherwise RLIMIT_NICE sets
// the floor, as systemd's LimitNICE= does). A process the raised thread
// starts does not inherit the real-time policy (SCHED_RESET_ON_FORK).
//
// It returns ctx marked as raised and done, which puts the thread back as
// it was and unpins the goroutine; done must be called on the same
// goroutine and may be called more than once. When the thread cannot be
// raised at all, ctx comes back unmarked and done only unpins.
func Raise(ctx context.Context) (context.Context, func()) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	_, restore, err := raiseThread(tid)
	switch {
	case err != nil:
		return ctx, sync.OnceFunc(runtime.UnlockOSThread)
	case restore == nil: // already as high (the whole process runs at it)
		return context.WithValue(ctx, raisedKey{}, true), sync.OnceFunc(runtime.UnlockOSThread)
	}
	return context.WithValue(ctx, raisedKey{}, true), sync.OnceFunc(func() {
		// Lowering a thread's priority is allowed (restoreAttr keeps the
		// flag only CAP_SYS_NICE may clear). Should it fail anyway, the
		// thread stays pinned rather than run other
		// goroutines ahead of their turn; the goroutine keeps it (an API
		// handler's goroutine serves the next request on its connection
		// raised) and it ends with the goroutine.
		if restore() == nil {
			runtime.UnlockOSThread()
		}
	})
}

// raiseThread raises tid, the caller's pinned thread, as Raise describes,
// and returns the level it reached and how to put the thread back. restore
// is nil when nothing changed because the thread already runs as high
// (a real-time policy, or a nice value of Nice or lower). It fails when
// the thread cannot be raised at all.
func raiseThread(tid int) (got Level, restore func() error, err error) {
	old, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return Level{}, nil, fmt.Errorf("reading the thread's scheduling policy: %w", err)
	}
	switch old.Policy {
	case unix.SCHED_FIFO, unix.SCHED_RR:
		return Level{RealTime: true, Priority: int(old.Priority)}, nil, nil
	}
	back := restoreAttr(old)
	restore = func() error { return unix.SchedSetAttr(tid, &back, 0) }
	rt := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: RTPriority,
		Flags: unix.SCHED_FLAG_RESET_ON_FORK}
	if unix.SchedSetAttr(tid, &rt, 0) == nil {
		return Level{RealTime: true, Priority: RTPriority}, restore, nil
	}
	if int(old.Nice) <= Nice {
		return Level{Nice: int(old.Nice)}, nil, nil
	}
	n, err := setNice(tid, int(old.Nice))
	if err != nil {
		return Level{}, nil, fmt.Errorf("switches run at the normal priority: raising it needs CAP_SYS_NICE, RLIMIT_RTPRIO (systemd's LimitRTPRIO=) or RLIMIT_NICE (LimitNICE=): %w", err)
	}
	return Level{Nice: n}, restore, nil
}

// restoreAttr is what puts a thread raised from old back: old's policy,
// priority and nice value, with the reset-on-fork flag set. The raise set
// that flag, and only CAP_SYS_NICE may clear it (sched(7)): a process
// raised through RLIMIT_RTPRIO could not be put back otherwise. On the
// normal policy the flag only resets a negative nice value in a child.
// Other sched_getattr flags are dropped: sched_setattr reads some of them
// as requests to keep a value rather than set it.
func restoreAttr(old *unix.SchedAttr) unix.SchedAttr {
	back := *old
	back.Size = unix.SizeofSchedAttr
	back.Flags = unix.SCHED_FLAG_RESET_ON_FORK
	return back
}

// level returns tid's scheduling level as Level describes it.
func level(tid int) (Level, error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return Level{}, err
	}
	if a.Policy == unix.SCHED_FIFO || a.Policy == unix.SCHED_RR {
		return Level{RealTime: true, Priority: int(a.Priority)}, nil
	}
	return Level{Nice: int(a.Nice)}, nil
}

// setNice lowers tid's nice value to Nice, or to the floor RLIMIT_NICE
// allows, and returns the value set; it fails when that is no lower than
// old.
func setNice(tid, old int) (int, error) {
	err := unix.Setpriority(unix.PRIO_PROCESS, tid, Nice)
	if err == nil {
		return Nice, nil
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return 0, err
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NICE, &lim) != nil {
		return 0, err
	}
	floor := 20 - int(min(lim.Cur, 40)) // RLIMIT_NICE holds 20 - the lowest nice
	if floor >= old {
		return 0, err
	}
	n := max(floor, Nice)
	return n, unix.Setpriority(unix.PRIO_PROCESS, tid, n)
}

// Ability reports the level Raise reaches in this process, by raising a
// thread of its own and putting it back, or why it cannot raise one (for
// serve's start-up log).
func Ability() (Level, error) {
	type result struct {
		level Level
		err   error
	}
	out := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		got, restore, err := raiseThread(tid)
		if err != nil || restore == nil {
			out <- result{got, err}
			return
		}
		if rerr := restore(); rerr != nil {
			runtime.LockOSThread() // stays pinned: the thread ends with this goroutine
			out <- result{err: fmt.Errorf("restoring the thread's priority: %w", rerr)}
			return
		}
		out <- result{level: got}
	}()
	r := <-out
	return r.level, r.err
}

// waitReadable polls fd in turns of at most 20 ms so that ctx is noticed.
func waitReadable(ctx context.Context, fd uintptr, deadline time.Time) {
	for ctx.Err() == nil {
		turn := 20 * time.Millisecond
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return
			}
			turn = min(turn, left)
		}
		ms := int((turn + time.Millisecond - 1) / time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if n > 0 || (err != nil && err != unix.EINTR) {
			return
		}
	}
}

// Current reports the calling thread's level, for a goroutine that Raise
// pinned (elsewhere the answer may be another thread's by the time it is
// read).
func Current() (Level, error) { return level(unix.Gettid()) }
