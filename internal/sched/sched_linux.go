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

// Raise pins the calling goroutine to its OS thread and lowers that
// thread's nice value to Nice, or as far towards it as the process may
// (CAP_SYS_NICE allows any; otherwise RLIMIT_NICE sets the floor, as
// systemd's LimitNICE= does). It returns ctx marked as raised and done,
// which restores the thread's nice value and unpins the goroutine; done
// must be called on the same goroutine and may be called more than once.
// When the priority cannot be raised at all, ctx comes back unmarked and
// done only unpins.
func Raise(ctx context.Context) (context.Context, func()) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	old, err := raiseThread(tid)
	switch {
	case err != nil:
		return ctx, sync.OnceFunc(runtime.UnlockOSThread)
	case old <= Nice: // already as high (the whole process runs at it)
		return context.WithValue(ctx, raisedKey{}, true), sync.OnceFunc(runtime.UnlockOSThread)
	}
	return context.WithValue(ctx, raisedKey{}, true), sync.OnceFunc(func() {
		// Raising a nice value back is always allowed. Should it fail
		// anyway, the thread stays pinned rather than run other
		// goroutines ahead of their turn; the goroutine keeps it (an API
		// handler's goroutine serves the next request on its connection
		// raised) and it ends with the goroutine.
		if unix.Setpriority(unix.PRIO_PROCESS, tid, old) == nil {
			runtime.UnlockOSThread()
		}
	})
}

// raiseThread lowers the nice value of tid, the caller's pinned thread, to
// Nice or as far towards it as allowed, and returns the value it had. It
// changes nothing when the thread already runs at Nice or lower, and fails
// when the value cannot be lowered at all.
func raiseThread(tid int) (old int, err error) {
	if old, err = nice(tid); err != nil {
		return 0, fmt.Errorf("reading the thread's priority: %w", err)
	}
	if old <= Nice {
		return old, nil
	}
	if err := setNice(tid, old); err != nil {
		return old, fmt.Errorf("switches run at the normal priority: raising it needs CAP_SYS_NICE or RLIMIT_NICE (systemd's LimitNICE=): %w", err)
	}
	return old, nil
}

// nice returns the thread's nice value (getpriority's raw system call
// answers 20 minus it).
func nice(tid int) (int, error) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	return 20 - p, err
}

// setNice lowers tid's nice value to Nice, or to the floor RLIMIT_NICE
// allows; it fails when that is no lower than old.
func setNice(tid, old int) error {
	err := unix.Setpriority(unix.PRIO_PROCESS, tid, Nice)
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return err
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NICE, &lim) != nil {
		return err
	}
	floor := 20 - int(min(lim.Cur, 40)) // RLIMIT_NICE holds 20 - the lowest nice
	if floor >= old {
		return err
	}
	return unix.Setpriority(unix.PRIO_PROCESS, tid, max(floor, Nice))
}

// Ability reports the nice value Raise reaches in this process, by raising
// a thread of its own and putting it back, or why it cannot raise one
// (for serve's start-up log).
func Ability() (int, error) {
	type result struct {
		nice int
		err  error
	}
	out := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		old, err := raiseThread(tid)
		if err != nil || old <= Nice {
			out <- result{nice: old, err: err}
			return
		}
		got, err := nice(tid)
		if rerr := unix.Setpriority(unix.PRIO_PROCESS, tid, old); rerr != nil {
			runtime.LockOSThread() // stays pinned: the thread ends with this goroutine
			out <- result{err: fmt.Errorf("restoring the thread's priority: %w", rerr)}
			return
		}
		out <- result{nice: got, err: err}
	}()
	r := <-out
	return r.nice, r.err
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
