package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/loadgen"
)

// serveEvents returns serve's own history events (action serve), newest
// first.
func serveEvents(t *testing.T, s *server) []bluegreen.Event {
	t.Helper()
	return decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--action", bluegreen.ActionServe, "-o", "json", "--limit", "100"))
}

// handOverAndWait sends SIGUSR2 to the serve with pid and waits for a serve
// event whose message contains want; it returns the message.
func handOverAndWait(t *testing.T, s *server, pid int, want string) string {
	t.Helper()
	return signalAndWait(t, s, pid, syscall.SIGUSR2, func(msg string) bool { return strings.Contains(msg, want) },
		"--action", bluegreen.ActionServe)
}

// TestHandOverUnderLoad: after the binary is replaced, SIGUSR2 starts the
// new binary on the same sockets and the old serve steps aside, with the
// load running and not one request failing; a service manager is told the
// new pid. A connection the old serve still holds is served once more,
// with the live color the new serve switched to and "Connection: close".
// A hand-over is refused while a post-switch watch runs, and one whose new
// serve cannot start leaves the old one serving; both say why.
func TestHandOverUnderLoad(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, blue, green, "")
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// Time enough for the idle connection below to outlive the switch.
	good = []byte(strings.Replace(string(good), "drain_timeout: 3s", "drain_timeout: 30s", 1))
	if err := os.WriteFile(cfgPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	// What serve tells a service manager (systemd's notify protocol).
	notifyPath := dir + "/notify"
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	notes := make(chan string, 16)
	go func() {
		buf := make([]byte, 512)
		for {
			n, _, err := nl.ReadFromUnix(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	note := func(want string) {
		t.Helper()
		select {
		case got := <-notes:
			if got != want {
				t.Fatalf("serve told the service manager %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("serve did not tell the service manager %q", want)
		}
	}

	// serve runs from its own copy of the binary, which is replaced (an
	// upgrade) before the hand-over.
	bin := dir + "/bluegreen"
	copyFile(t, binPath, bin)
	s := startServeBin(t, bin, cfgPath)
	oldPid := s.cmd.Process.Pid
	note("READY=1")

	// A kept-alive connection that stays idle across the hand-over.
	idle, err := net.Dial("tcp", s.public)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleBR := bufio.NewReader(idle)
	askColor := func() *http.Response {
		t.Helper()
		if _, err := io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(idleBR, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := askColor(); res.Header.Get("X-Bluegreen-Color") != "blue" || res.Close {
		t.Fatalf("before the hand-over: color %q, close %v", res.Header.Get("X-Bluegreen-Color"), res.Close)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	waitFor(t, "the load to run", 10*time.Second, func() bool { return load.Snapshot().Requests > 200 })

	copyFile(t, binPath, bin+".new")
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	msg := handOverAndWait(t, s, oldPid, "handed over to pid")
	m := regexp.MustCompile(`handed over to pid (\d+)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("hand-over event %q names no pid", msg)
	}
	newPid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() {
		_ = syscall.Kill(newPid, syscall.SIGKILL)
		waitFor(t, "the new serve to end", 10*time.Second, func() bool { return !processAlive(newPid) })
	})
	if evs := serveEvents(t, s); !strings.Contains(evs[1].Message, "serve started (pid "+m[1]) ||
		!strings.Contains(evs[1].Message, "took over from pid "+strconv.Itoa(oldPid)) {
		t.Fatalf("the new serve's start event: %q", evs[1].Message)
	}
	note("MAINPID=" + m[1])
	// The new serve runs the binary now at the path, not the replaced one.
	if exe, err := os.Readlink("/proc/" + m[1] + "/exe"); err != nil || exe != bin {
		t.Fatalf("the new serve runs %q (%v), want the upgraded %s", exe, err, bin)
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(oldPid) + "/exe"); exe != bin+" (deleted)" {
		t.Fatalf("the old serve runs %q, want the replaced binary", exe)
	}
	atHandOver := load.Snapshot().Requests

	// The new serve switches; the old one, still holding the idle
	// connection, follows the committed color and closes it after one
	// more answer.
	s.mustCLI(t, "switch", "green")
	waitFor(t, "the old serve to follow the switch", 10*time.Second, func() bool {
		return strings.Contains(s.stderr.String(), "hand-over: following the live color")
	})
	res := askColor()
	if res.Header.Get("X-Bluegreen-Color") != "green" || !res.Close {
		t.Fatalf("the old serve's connection after the switch: color %q, close %v", res.Header.Get("X-Bluegreen-Color"), res.Close)
	}
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer that said close: %v, want EOF", err)
	}
	waitFor(t, "the old serve to exit", 30*time.Second, func() bool { return !processAlive(oldPid) })
	if !processAlive(newPid) {
		t.Fatal("the new serve is gone")
	}
	waitFor(t, "load on the new serve", 10*time.Second, func() bool { return load.Snapshot().Requests > atHandOver+500 })

	// A watch runs after the switch: a hand-over now is refused.
	if msg := handOverAndWait(t, s, newPid, "hand-over to a new serve refused"); !strings.Contains(msg, "the watch of green runs until") {
		t.Fatalf("hand-over during a watch: %q", msg)
	}
	s.mustCLI(t, "rollback")

	// A new serve that cannot start (a broken configuration) leaves this
	// one serving.
	if err := os.WriteFile(cfgPath, append(good, "bogus: 1\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	msg = handOverAndWait(t, s, newPid, "hand-over to a new serve failed")
	if !strings.Contains(msg, "exit status 2") || !strings.Contains(msg, "carries on") {
		t.Fatalf("a failed hand-over: %q", msg)
	}
	if !strings.Contains(s.stderr.String(), `unknown key "bogus"`) {
		t.Fatal("the failed serve's error is not in the log")
	}
	if out := s.mustCLI(t, "switch", "green"); !strings.Contains(out, "switched blue → green") {
		t.Fatalf("a switch after the failed hand-over: %q", out)
	}
	if c := strings.TrimSpace(s.mustCLI(t, "color")); c != "green" {
		t.Fatalf("color after the failed hand-over and a switch: %q", c)
	}

	nl.Close()
	for n := range notes {
		t.Fatalf("serve told the service manager %q after the hand-over", n)
	}

	r := load.Stop()
	t.Logf("load: %v", r)
	if r.Failed != 0 || r.Requests == 0 {
		t.Fatalf("load across the hand-over: %d requests, %d failed: %v %q", r.Requests, r.Failed, r.Failures, r.FirstErrors)
	}
}

// copyFile copies the file at from to to, executable.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
