//go:build linux

package loadgen

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// pacer sleeps until a scheduled send time with a timerfd read through Go's
// network poller: it wakes within about a tenth of a millisecond, where a Go
// timer in a mostly idle process fires up to a millisecond late (the runtime's
// poller waits in whole milliseconds), which would add up to a millisecond to
// every CorrectedLatency and send a Rate run's requests in bursts. Each wake-up
// costs a few system calls more than a Go timer's, which serves several due
// timers at once. A blocked sleep does not hold an OS thread.
type pacer struct {
	f    *os.File
	fd   uintptr // f's descriptor, used only by the goroutine that sleeps (f.Fd would make it blocking)
	spec itimerspec
	buf  [8]byte
}

// itimerspec is struct itimerspec of timerfd_settime(2).
type itimerspec struct{ interval, value syscall.Timespec }

// newPacer returns nil when no timerfd can be had; the caller then uses a Go
// timer.
func newPacer() *pacer {
	const clockMonotonic = 1
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic,
		syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0) // TFD_NONBLOCK|TFD_CLOEXEC
	if errno != 0 {
		return nil
	}
	f := os.NewFile(fd, "timerfd") // non-blocking: registered with the poller
	return &pacer{f: f, fd: fd}
}

// sleep sleeps for d > 0 and reports whether it slept the whole time; it
// returns false at once, now or later, after interrupt. It does not allocate.
func (p *pacer) sleep(d time.Duration) bool {
	p.spec.value = syscall.NsecToTimespec(int64(d))
	_, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, p.fd, 0,
		uintptr(unsafe.Pointer(&p.spec)), 0, 0, 0)
	if errno != 0 {
		return false
	}
	_, err := p.f.Read(p.buf[:])
	return err == nil
}

// interrupt makes the current and every later sleep return false at once. It
// is safe to call concurrently with sleep and close.
func (p *pacer) interrupt() { _ = p.f.SetReadDeadline(time.Unix(1, 0)) }

// close releases the timerfd; the sleeping goroutine calls it, once done.
func (p *pacer) close() { p.f.Close() }
