package sched

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadLevel is the calling thread's scheduling level; the caller must be
// pinned.
func threadLevel(t *testing.T) Level {
	t.Helper()
	l, err := level(unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRaise checks what Raise does with the privileges this test has: as
// root it must reach the real-time policy; without any, with an
// RLIMIT_NICE floor and with an RLIMIT_RTPRIO, the helper process below
// checks the other cases. In every case done puts the thread back as it
// was, and a process started from the raised thread runs the normal
// policy.
func TestRaise(t *testing.T) {
	want, ableErr := Ability()
	runtime.LockOSThread() // so that threadLevel reads the thread Raise pins
	defer runtime.UnlockOSThread()
	before := threadLevel(t)

	ctx, done := Raise(t.Context())
	during := threadLevel(t)
	// Field 41 of /proc/PID/stat is the scheduling policy (0: normal).
	child, err := exec.Command("cut", "-d ", "-f41", "/proc/self/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	done()
	done() // twice is allowed
	if after := threadLevel(t); after != before {
		t.Errorf("after done the thread runs at %s, want %s as before", after, before)
	}
	switch {
	case ableErr != nil:
		if Raised(ctx) || during != before {
			t.Errorf("Ability said %v, but Raise raised: Raised = %v, %s -> %s", ableErr, Raised(ctx), before, during)
		}
	default:
		if !Raised(ctx) || during != want {
			t.Errorf("Raise: Raised = %v, during: %s; want true and %s (Ability)", Raised(ctx), during, want)
		}
	}
	if got := strings.TrimSpace(string(child)); got != "0" {
		t.Errorf("a process started by the raised thread runs policy %s, want 0 (normal)", got)
	}
	if rt := (Level{RealTime: true, Priority: RTPriority}); os.Geteuid() == 0 && (ableErr != nil || want != rt) {
		t.Errorf("as root Ability = %s, %v; want %s", want, ableErr, rt)
	}
	if Raised(Without(ctx)) {
		t.Error("Without(ctx) is still raised")
	}
}

// TestRaiseUnprivileged runs TestRaiseHelper as nobody: with neither
// RLIMIT_NICE nor RLIMIT_RTPRIO, with an RLIMIT_NICE that allows nice -5,
// and with an RLIMIT_RTPRIO of 1. Raise must reach what is allowed and no
// more. It needs root to start the helper as another user.
func TestRaiseUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper as another user; TestRaise covers this user")
	}
	// The test binary's directory is private to root: copy it where
	// nobody can run it.
	dir, err := os.MkdirTemp("", "sched-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := dir + "/sched.test"
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		nice, rtprio uint64
		want         string // the level Raise reaches; "": none
	}{
		{0, 0, ""},
		{25, 0, Level{Nice: -5}.String()},
		{0, 1, Level{RealTime: true, Priority: 1}.String()},
	} {
		t.Run(fmt.Sprintf("RLIMIT_NICE=%d,RLIMIT_RTPRIO=%d", tc.nice, tc.rtprio), func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^TestRaiseHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "SCHED_HELPER_WANT="+tc.want)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			// Resource limits are the process's; the child inherits them.
			for _, lim := range []struct {
				name     string
				resource int
				value    uint64
			}{{"RLIMIT_NICE", unix.RLIMIT_NICE, tc.nice}, {"RLIMIT_RTPRIO", unix.RLIMIT_RTPRIO, tc.rtprio}} {
				var old unix.Rlimit
				if err := unix.Prlimit(0, lim.resource, nil, &old); err != nil {
					t.Fatal(err)
				}
				if err := unix.Prlimit(0, lim.resource, &unix.Rlimit{Cur: lim.value, Max: max(lim.value, old.Max)}, nil); err != nil {
					// Raising a hard limit needs CAP_SYS_RESOURCE, which a
					// container's root may not have.
					t.Skipf("setting %s to %d: %v", lim.name, lim.value, err)
				}
				defer func() {
					if err := unix.Prlimit(0, lim.resource, &old, nil); err != nil {
						t.Fatal(err)
					}
				}()
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			t.Logf("helper:\n%s", out)
		})
	}
}

// TestRaiseHelper is TestRaiseUnprivileged's child; alone it does nothing.
func TestRaiseHelper(t *testing.T) {
	want, ok := os.LookupEnv("SCHED_HELPER_WANT")
	if !ok {
		t.Skip("run by TestRaiseUnprivileged")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if os.Geteuid() == 0 {
		t.Fatal("the helper runs as root")
	}
	before := threadLevel(t)
	// A raise sets the reset-on-fork flag, which this unprivileged thread
	// may set but not clear: restoreAttr must put the thread back anyway.
	// (The RLIMIT_RTPRIO case below, which raises for real, needs a hard
	// limit that a container's root may not be able to grant.)
	tid := unix.Gettid()
	old, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatal(err)
	}
	flagged := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: old.Policy, Nice: old.Nice, Flags: unix.SCHED_FLAG_RESET_ON_FORK}
	if err := unix.SchedSetAttr(tid, &flagged, 0); err != nil {
		t.Fatalf("setting reset-on-fork unprivileged: %v", err)
	}
	back := restoreAttr(old)
	if err := unix.SchedSetAttr(tid, &back, 0); err != nil {
		t.Errorf("putting back a thread with reset-on-fork, unprivileged: %v", err)
	}
	l, ableErr := Ability()
	ctx, done := Raise(context.Background())
	during := threadLevel(t)
	done()
	if after := threadLevel(t); after != before {
		t.Errorf("after done: %s, want %s", after, before)
	}
	if want == "" {
		if ableErr == nil || Raised(ctx) || during != before {
			t.Errorf("unprivileged: Ability = %s, %v; Raised = %v; during %s; want an error, false, %s", l, ableErr, Raised(ctx), during, before)
		}
		return
	}
	if ableErr != nil || l.String() != want || !Raised(ctx) || during.String() != want {
		t.Errorf("Ability = %s, %v; Raised = %v; during %s; want %s, nil, true, %s", l, ableErr, Raised(ctx), during, want, want)
	}
}

// endsAt is a context whose Err is nil until it has been asked left times.
type endsAt struct {
	context.Context
	left  int32
	looks atomic.Int32
}

func (c *endsAt) Err() error {
	if c.looks.Add(1) >= c.left {
		return context.Canceled
	}
	return nil
}

// TestRaisePins: the goroutine stays on the raised thread when it blocks
// and resumes, so the priority goes wherever it runs until done.
func TestRaisePins(t *testing.T) {
	want, err := Ability()
	if err != nil {
		t.Skipf("this process may not raise a thread's priority: %v", err)
	}
	ctx, done := Raise(t.Context())
	defer done()
	if !Raised(ctx) {
		t.Fatal("Raise did not raise although Ability said it can")
	}
	for i := range 50 {
		// Park the goroutine and let another wake it: unpinned, it would
		// often resume on another thread.
		ch := make(chan struct{})
		go func() { ch <- struct{}{} }()
		<-ch
		runtime.Gosched()
		l, err := level(unix.Gettid())
		if err != nil || l != want {
			t.Fatalf("after %d hand-offs the goroutine runs at %s (%v), want %s", i+1, l, err, want)
		}
	}
}

// TestWaitReadable checks that WaitReadable returns when data comes, at the
// deadline, and when the context ends, and leaves the data to be read.
func TestWaitReadable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	// Nothing to read: it returns at the deadline.
	deadline := time.Now().Add(30 * time.Millisecond)
	WaitReadable(t.Context(), client, deadline)
	if time.Now().Before(deadline) {
		t.Error("WaitReadable returned before its deadline with nothing to read")
	}

	// The context ends while it waits: it notices within a turn. The
	// context below ends at its third look, so the wait has polled twice.
	ctx := &endsAt{Context: t.Context(), left: 3}
	returned := make(chan struct{})
	go func() { WaitReadable(ctx, client, time.Time{}); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitReadable did not return after its context ended")
	}
	if n := ctx.looks.Load(); n != 3 {
		t.Errorf("the context was asked %d times, want 3 (it ends at the third)", n)
	}

	// Data comes: it returns, and the data is still there to read.
	returnedData := make(chan struct{})
	go func() { WaitReadable(t.Context(), client, time.Time{}); close(returnedData) }()
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-returnedData:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitReadable did not return when data came")
	}
	b := make([]byte, 1)
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("reading after WaitReadable: %q, %v", b, err)
	}
}
