package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal: the side the test reads and the
// terminal a child writes to.
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestSwitchShowsProgressOnATerminal (issue 23, finding 14b): with stderr
// on a terminal, `switch` says the new color is live, then how many
// requests the old one still has in flight, while the drain runs (before
// it exits); the result comes on stdout at the end as before.
func TestSwitchShowsProgressOnATerminal(t *testing.T) {
	s := startDrainingServe(t, 2000*time.Millisecond)
	master, term := openPTY(t)
	cmd := execCLI([]string{"--server", s.apiAd, "--token", s.token, "switch", "green"}, nil)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, term
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
		close(lines)
	}()
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !seen["live"] || !seen["draining"] {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the terminal closed before the progress lines; seen %v, stdout %q", seen, out.String())
			}
			running := true
			select {
			case <-exited:
				running = false
			default:
			}
			switch {
			case strings.HasPrefix(l, "live on green after ") && strings.Contains(l, "blue has 1 in flight"):
				seen["live"] = running
			case strings.Contains(l, "blue draining: 1 in flight after"):
				seen["draining"] = running
			}
			if !running {
				t.Fatalf("the progress line %q came after the CLI ended", l)
			}
		case <-deadline:
			t.Fatalf("no live and draining lines on the terminal within 20s (seen %v)", seen)
		}
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the switch did not end")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(out.String(), "switched blue → green") ||
		!strings.Contains(out.String(), "blue drained in") {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
}
