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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// serveEvents returns serve's own history events (action serve), newest
// first.
func serveEvents(t *testing.T, s *server) []bluegreen.Event {
	t.Helper()
	return decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--action", string(bluegreen.ActionServe), "-o", "json", "--limit", "100"))
}

// handOverAndWait sends SIGUSR2 to the serve with pid and waits for a serve
// event whose message contains want; it returns the message.
func handOverAndWait(t *testing.T, s *server, pid int, want string) string {
	t.Helper()
	return signalAndWait(t, s, pid, syscall.SIGUSR2, func(msg string) bool { return strings.Contains(msg, want) },
		"--action", string(bluegreen.ActionServe))
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
	fresh := freshConnections(t, "http://"+s.public+"/")
	testenv.WaitFor(t, 10*time.Second, "the load to run", func() bool { return load.Snapshot().Requests > 200 })

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
		testenv.WaitFor(t, 10*time.Second, "the new serve to end", func() bool { return !processAlive(newPid) })
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
	testenv.WaitFor(t, 10*time.Second, "the old serve to follow the switch", func() bool {
		return strings.Contains(s.stderr.String(), "hand-over: following the live color")
	})
	res := askColor()
	if res.Header.Get("X-Bluegreen-Color") != "green" || !res.Close {
		t.Fatalf("the old serve's connection after the switch: color %q, close %v", res.Header.Get("X-Bluegreen-Color"), res.Close)
	}
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer that said close: %v, want EOF", err)
	}
	testenv.WaitFor(t, 30*time.Second, "the old serve to exit", func() bool { return !processAlive(oldPid) })
	if !processAlive(newPid) {
		t.Fatal("the new serve is gone")
	}
	testenv.WaitFor(t, 10*time.Second, "load on the new serve", func() bool { return load.Snapshot().Requests > atHandOver+500 })

	// A watch runs after the switch: a hand-over now is refused (asked
	// through the API this time).
	if _, errOut, code := s.cli(t, "handover"); code != 1 || !strings.Contains(errOut, "hand-over to a new serve refused") ||
		!strings.Contains(errOut, "the watch of green runs until") {
		t.Fatalf("bluegreen handover during a watch: exit %d, %s", code, errOut)
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
	s.mustCLI(t, "rollback")

	// One that commits to the state before it fails (its configuration
	// renames blue's branch; its app repository does not exist): this
	// serve reloads the state, puts its own colors back, and commits on.
	bad := strings.Replace(string(good), "  branch: production\n", "  branch: blue\n  port: 1\n", 1)
	bad = strings.Replace(bad, "  branch: green\n", "  branch: green\n  port: 2\n", 1)
	bad += "app:\n  repo: " + dir + "/no-such-repo\n  run: 'true'\n"
	if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	msg = handOverAndWait(t, s, newPid, "hand-over to a new serve failed")
	if !strings.Contains(msg, "exit status") || !strings.Contains(s.stderr.String(), "no-such-repo") {
		t.Fatalf("a hand-over whose new serve fails after committing: %q", msg)
	}
	if !hasEvent(t, s, `branch "production" → "blue"`) {
		t.Fatal("the failed new serve committed nothing: the case is not tested")
	}
	if !hasEvent(t, s, `branch "blue" → "production"`) {
		t.Fatal("this serve did not put its own colors back in the state")
	}
	if out := s.mustCLI(t, "switch", "green"); !strings.Contains(out, "switched blue → green") {
		t.Fatalf("a switch after a hand-over that failed after committing: %q", out)
	}
	if st := status(t, s); st.State.Colors[bluegreen.Blue].Branch != "production" {
		t.Fatalf("blue's branch after the failed hand-over: %q, want this serve's production", st.State.Colors[bluegreen.Blue].Branch)
	}
	s.mustCLI(t, "rollback")

	// After two failures a hand-over still works (asked through the API).
	if err := os.WriteFile(cfgPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	res2 := decodeJSON[api.HandOverResult](t, s.mustCLI(t, "handover", "-o", "json"))
	if res2.Outcome != bluegreen.OutcomeOK || res2.FromPID != newPid || res2.ToPID == 0 {
		t.Fatalf("bluegreen handover: %+v", res2)
	}
	lastPid := res2.ToPID
	m = []string{"", strconv.Itoa(lastPid)}
	t.Cleanup(func() {
		_ = syscall.Kill(lastPid, syscall.SIGKILL)
		testenv.WaitFor(t, 10*time.Second, "the last serve to end", func() bool { return !processAlive(lastPid) })
	})
	note("MAINPID=" + m[1])
	testenv.WaitFor(t, 30*time.Second, "the second serve to exit", func() bool { return !processAlive(newPid) })
	if c := strings.TrimSpace(s.mustCLI(t, "color")); c != "blue" {
		t.Fatalf("color after the second hand-over: %q", c)
	}

	nl.Close()
	for n := range notes {
		t.Fatalf("serve told the service manager %q after the hand-over", n)
	}

	r := load.Stop()
	t.Logf("load: %v", r)
	if r.Failed != 0 || r.Requests == 0 {
		t.Fatalf("load across the hand-overs: %d requests, %d failed: %v %q", r.Requests, r.Failed, r.Failures, r.FirstErrors)
	}
	n, failed := fresh()
	t.Logf("a new connection per request: %d requests, %d failed", n, failed)
	if failed != 0 || n == 0 {
		t.Fatalf("a new connection per request across the hand-overs: %d requests, %d failed", n, failed)
	}

	// The last serve stops as usual.
	if err := syscall.Kill(lastPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the last serve to stop on SIGTERM", func() bool { return !processAlive(lastPid) })
}

// hasEvent reports whether the history holds an event whose message
// contains want.
func hasEvent(t *testing.T, s *server, want string) bool {
	t.Helper()
	for _, ev := range decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "-o", "json", "--limit", "1000")) {
		if strings.Contains(ev.Message, want) {
			return true
		}
	}
	return false
}

// freshConnections sends GET url on a new connection each time, until the
// returned function is called; that reports the requests and the failed
// ones (an error, or a status other than 200).
func freshConnections(t *testing.T, url string) func() (n, failed int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	stop := make(chan struct{})
	done := make(chan [2]int, 1)
	go func() {
		var n, failed int
		defer func() { done <- [2]int{n, failed} }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n++
			res, err := client.Get(url)
			if err != nil {
				failed++
				t.Logf("new connection: %v", err)
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				failed++
			}
		}
	}()
	var once sync.Once
	var res [2]int
	report := func() (int, int) {
		once.Do(func() { close(stop); res = <-done })
		return res[0], res[1]
	}
	t.Cleanup(func() { report() })
	return report
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
