package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// activation plays systemd's part in socket activation: it holds serve's
// three listening sockets for the whole test, as a .socket unit does, and
// starts serve with them as descriptors 3, 4 and 5.
type activation struct {
	files []*os.File // public, preview, API
	addrs []string
	cfg   string
}

// newActivation opens the three sockets on loopback and writes a
// configuration that names their addresses.
func newActivation(t *testing.T, blue, green string) *activation {
	t.Helper()
	a := &activation{}
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File() // the socket stays open in f
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		a.files = append(a.files, f)
		a.addrs = append(a.addrs, ln.Addr().String())
	}
	a.cfg = writeConfig(t, t.TempDir(), blue, green, "")
	b, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for i, key := range []string{"listen", "preview", "api"} {
		text = strings.Replace(text, key+": 127.0.0.1:0", key+": "+a.addrs[i], 1)
	}
	if err := os.WriteFile(a.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// start runs serve with the sockets, as systemd would: LISTEN_PID is the
// pid of serve itself (the shell execs it), names in LISTEN_FDNAMES.
func (a *activation) start(t *testing.T, files []*os.File, names string) *proc {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, binPath, "serve", "--config", a.cfg)
	cmd.Env = append(testEnv(), "LISTEN_FDS="+strconv.Itoa(len(files)), "LISTEN_FDNAMES="+names)
	cmd.ExtraFiles = files
	return startCmd(t, cmd, "serve")
}

// TestSocketActivationKill9Restarts: serve takes its listening sockets from
// the service manager; killed with -9 and started again ten times under
// load, then stopped and started, no connection is refused: clients wait in
// the kernel's backlog of the sockets the manager keeps open. Requests in
// flight on a connection the killed serve had accepted fail (it is gone);
// nothing else does.
func TestSocketActivationKill9Restarts(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	a := newActivation(t, blue, green)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	// Even starts get the sockets as one .socket unit passes them (all
	// named after the unit; here in another order than serve's), odd ones
	// each named (one unit per socket, FileDescriptorName=).
	start := func(n int) *proc {
		if n%2 == 0 {
			return a.start(t, []*os.File{a.files[2], a.files[0], a.files[1]}, "bluegreen.socket:bluegreen.socket:bluegreen.socket")
		}
		return a.start(t, a.files, "public:preview:api")
	}
	p := start(0)
	p.readUntil(t, "token ")
	// Each socket serves what its address is configured for.
	if _, body, _ := get(t, "http://"+a.addrs[1]+"/"); !strings.Contains(body, `"color":"green"`) {
		t.Fatalf("the preview address answered %q, want the inactive color green", body)
	}
	if code, body, _ := get(t, "http://"+a.addrs[2]+"/v1/status"); code != http.StatusUnauthorized {
		t.Fatalf("the API address answered %d %q to a call without a token, want 401", code, body)
	}
	if !strings.Contains(p.stderr.String(), "socket activation: listening on the sockets the service manager passed") {
		t.Fatalf("serve does not say it took the passed sockets:\n%s", p.stderr.String())
	}
	const conns, kills = 64, 10
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + a.addrs[0] + "/", Connections: conns, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	testenv.WaitFor(t, 10*time.Second, "traffic through serve", func() bool { return load.Snapshot().OK > 500 })
	for i := range kills {
		p.kill9(t)
		before := load.Snapshot().OK
		p = start(i + 1)
		testenv.WaitFor(t, 10*time.Second, "traffic through the restarted serve", func() bool { return load.Snapshot().OK > before+1000 })
		if r := load.Snapshot(); r.Failures["refused"] != 0 {
			t.Fatalf("after restart %d: %d connections refused: %v", i+1, r.Failures["refused"], r.FirstErrors)
		}
	}
	if r := load.Snapshot(); r.Failed > conns*kills {
		t.Errorf("%d requests failed in %d kills; want at most one per connection per kill (%d): %v", r.Failed, kills, conns*kills, r.Failures)
	}
	// A stop (SIGTERM: serve drains and closes its listeners) and a start
	// refuse nothing either: closing serve's copies leaves the sockets open.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	before := load.Snapshot().OK
	p = start(kills + 1)
	testenv.WaitFor(t, 10*time.Second, "traffic after a stop and a start", func() bool { return load.Snapshot().OK > before+1000 })
	r := load.Stop()
	for kind, n := range r.Failures {
		if kind != "eof" && kind != "reset" {
			t.Errorf("%d requests failed with %q; want only requests in flight on a killed serve's connections (eof, reset): %v", n, kind, r.FirstErrors)
		}
	}
	t.Logf("%d kill -9 restarts and a stop/start under socket activation: %v", kills, r)
}

// TestSocketActivationRefusesAStrangeSocket: a passed socket that is none of
// the configured addresses is refused at start, naming it and the fix.
func TestSocketActivationRefusesAStrangeSocket(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	a := newActivation(t, blue, green)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := a.start(t, []*os.File{f}, "")
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve still runs 30s after it was given a socket it was not configured for")
	}
	want := "socket activation: descriptor 3 listens on " + ln.Addr().String() + ", which is none of the configured addresses"
	if code := p.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(p.stderr.String(), want) ||
		!strings.Contains(p.stderr.String(), "FileDescriptorName=public, preview or api") {
		t.Fatalf("exit %d, stderr:\n%s\nwant an error containing %q", code, p.stderr.String(), want)
	}
}
