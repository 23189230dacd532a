package sched

import (
	"context"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice is the calling thread's nice value; the caller must be pinned.
func threadNice(t *testing.T) int {
	t.Helper()
	n, err := nice(unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRaise checks what Raise does with the privileges this test has: as
// root it must reach Nice; without any, and with an RLIMIT_NICE floor, the
// helper process below checks the other two cases. In every case done puts
// the thread back as it was.
func TestRaise(t *testing.T) {
	want, ableErr := Ability()
	runtime.LockOSThread() // so that threadNice reads the thread Raise pins
	defer runtime.UnlockOSThread()
	before := threadNice(t)

	ctx, done := Raise(t.Context())
	during := threadNice(t)
	done()
	done() // twice is allowed
	if after := threadNice(t); after != before {
		t.Errorf("nice after done = %d, want %d as before", after, before)
	}
	switch {
	case ableErr != nil:
		if Raised(ctx) || during != before {
			t.Errorf("Ability said %v, but Raise raised: Raised = %v, nice %d -> %d", ableErr, Raised(ctx), before, during)
		}
	default:
		if !Raised(ctx) || during != want {
			t.Errorf("Raise: Raised = %v, nice during = %d; want true and %d (Ability)", Raised(ctx), during, want)
		}
	}
	if os.Geteuid() == 0 && (ableErr != nil || want != Nice) {
		t.Errorf("as root Ability = %d, %v; want %d", want, ableErr, Nice)
	}
	if Raised(Without(ctx)) {
		t.Error("Without(ctx) is still raised")
	}
}

// TestRaiseUnprivileged runs TestRaiseHelper as nobody, with no RLIMIT_NICE
// and then with one that allows nice -5: Raise must stop at what is
// allowed. It needs root to start the helper as another user.
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
		rlimit uint64
		want   int // the nice value Raise reaches; 0: none
	}{{0, 0}, {25, -5}} {
		t.Run("RLIMIT_NICE="+strconv.FormatUint(tc.rlimit, 10), func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^TestRaiseHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "SCHED_HELPER_WANT="+strconv.Itoa(tc.want))
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			// Resource limits are the process's; the child inherits them.
			var old unix.Rlimit
			if err := unix.Prlimit(0, unix.RLIMIT_NICE, nil, &old); err != nil {
				t.Fatal(err)
			}
			if err := unix.Prlimit(0, unix.RLIMIT_NICE, &unix.Rlimit{Cur: tc.rlimit, Max: max(tc.rlimit, old.Max)}, nil); err != nil {
				// Raising a hard limit needs CAP_SYS_RESOURCE, which a
				// container's root may not have.
				t.Skipf("setting RLIMIT_NICE to %d: %v", tc.rlimit, err)
			}
			out, err := cmd.CombinedOutput()
			if err := unix.Prlimit(0, unix.RLIMIT_NICE, &old, nil); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			t.Logf("helper:\n%s", out)
		})
	}
}

// TestRaiseHelper is TestRaiseUnprivileged's child; alone it does nothing.
func TestRaiseHelper(t *testing.T) {
	w, ok := os.LookupEnv("SCHED_HELPER_WANT")
	if !ok {
		t.Skip("run by TestRaiseUnprivileged")
	}
	want, _ := strconv.Atoi(w)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if os.Geteuid() == 0 {
		t.Fatal("the helper runs as root")
	}
	before := threadNice(t)
	n, ableErr := Ability()
	ctx, done := Raise(context.Background())
	during := threadNice(t)
	done()
	if after := threadNice(t); after != before {
		t.Errorf("nice after done = %d, want %d", after, before)
	}
	if want == 0 {
		if ableErr == nil || Raised(ctx) || during != before {
			t.Errorf("unprivileged: Ability = %d, %v; Raised = %v; nice during %d; want an error, false, %d", n, ableErr, Raised(ctx), during, before)
		}
		return
	}
	if ableErr != nil || n != want || !Raised(ctx) || during != want {
		t.Errorf("Ability = %d, %v; Raised = %v; nice during %d; want %d, nil, true, %d", n, ableErr, Raised(ctx), during, want, want)
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
		n, err := nice(unix.Gettid())
		if err != nil || n != want {
			t.Fatalf("after %d hand-offs the goroutine runs at nice %d (%v), want %d", i+1, n, err, want)
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
