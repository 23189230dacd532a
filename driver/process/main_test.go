package process

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestMain lets the test binary play the other processes of the design:
// `supervise --spec FILE` is the hidden verb of the bluegreen binary, and
// `fakeserve SPECFILE` is a server that starts a supervisor, prints the pids
// and lives until the test kills it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "supervise":
			os.Exit(superviseMain(os.Args[2:]))
		case "fakeserve":
			os.Exit(fakeServeMain(os.Args[2:]))
		}
	}
	// The race detector makes every process wait a second at exit; the
	// supervisors and fake servers these tests start need not.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

func superviseMain(args []string) int {
	fs := flag.NewFlagSet("supervise", flag.ContinueOnError)
	specPath := fs.String("spec", "", "spec file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	spec, err := LoadSpec(*specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := Supervise(context.Background(), spec, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "supervise:", err)
		return 1
	}
	return 0
}

func fakeServeMain(args []string) int {
	spec, err := LoadSpec(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := New(exe, nil).Start(ctx, spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d %d\n", h.SupervisorPid(), h.Pid())
	// Live until killed, or until the test's end of the stdin pipe closes.
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// testBinary returns the path of this test binary, which doubles as the
// bluegreen binary for the supervise verb.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// newSpec returns a spec for blue release r1 running command, with fresh
// release and state directories and a PATH-only environment.
func newSpec(t *testing.T, command string) Spec {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "release")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Color: bluegreen.Blue, Release: "r1", Dir: dir, Command: command,
		Env: []string{"PATH=" + os.Getenv("PATH")}, StateDir: filepath.Join(root, "state"),
		StopGrace: 5 * time.Second,
	}
}

// start starts spec with a fresh Driver and kills whatever is left of the
// supervisor and its app when the test ends.
func start(t *testing.T, spec Spec) *Handle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := New(testBinary(t), testLogger(t)).Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	sup, _ := identify(h.SupervisorPid())
	killOnCleanup(t, sup, spec.StateDir)
	return h
}

// killOnCleanup kills the supervisor sup and the app recorded in stateDir
// when the test ends, and waits for the supervisor to be gone, so that
// nothing writes into the test's directories while they are removed.
func killOnCleanup(t *testing.T, sup procIdentity, stateDir string) {
	t.Cleanup(func() {
		if st, err := readState(stateDir); err == nil && st.App.alive() {
			killGroup(st.App.Pid, syscall.SIGKILL)
		}
		if sup.alive() {
			killGroup(sup.Pid, syscall.SIGKILL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if !waitUntil(ctx, func() bool { return !sup.alive() }) {
			t.Errorf("supervisor %d still alive after SIGKILL", sup.Pid)
		}
	})
}

// statFields returns the process group and session of pid from /proc.
func statFields(t *testing.T, pid int) (pgrp, session int) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
	pgrp, _ = strconv.Atoi(string(f[2]))    // field 5
	session, _ = strconv.Atoi(string(f[3])) // field 6
	return pgrp, session
}

// allEvents returns every event recorded so far.
func allEvents(t *testing.T, h *Handle) []Event {
	t.Helper()
	evs, _, err := h.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func kinds(evs []Event) []string {
	var k []string
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return k
}

func countKind(evs []Event, kind string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// firstLine reads one line from r.
func firstLine(t *testing.T, r io.Reader) string {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("reading a line: %v (got %q)", err, line)
	}
	return line
}
