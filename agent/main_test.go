package agent

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/driver/process"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// TestMain lets the test binary play the other programs: `supervise --spec
// FILE` is the bluegreen binary's hidden verb the process driver runs, and
// `testapp` is the app the orders run (an HTTP server on $PORT).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "supervise":
			os.Exit(superviseMain(os.Args[2:]))
		case "testapp":
			os.Exit(testAppMain())
		}
	}
	// The race detector makes every process wait a second at exit; the
	// supervisors these tests start need not.
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
	spec, err := process.LoadSpec(*specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := process.Supervise(context.Background(), spec, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "supervise:", err)
		return 1
	}
	return 0
}

// testAppMain answers GET / on 127.0.0.1:$PORT with "built|version|pid":
// the built.txt the build step wrote, the release's VERSION file and its
// own pid.
func testAppMain() int {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening on", ln.Addr())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		built, _ := os.ReadFile("built.txt")
		version, _ := os.ReadFile("VERSION")
		fmt.Fprintf(w, "%s|%s|%d", strings.TrimSpace(string(built)), strings.TrimSpace(string(version)), os.Getpid())
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// fakeService stands in for serve's controller behind the real API
// handler: it answers the agent's reports with the order the test sets
// and serves the archives the test built. Other Service methods are not
// called by an agent (the nil embedded interface would panic).
type fakeService struct {
	api.Service

	mu       sync.Mutex
	order    *bluegreen.HostOrder
	changed  chan struct{}     // closed when the order changes, as serve's
	archives map[string][]byte // by sha
	fetches  int
	reports  []bluegreen.AgentReport
}

func (f *fakeService) setOrder(o *bluegreen.HostOrder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.order = o
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

func (f *fakeService) Live() bluegreen.Color { return bluegreen.Blue }

func (f *fakeService) HostInfo(ctx context.Context, host string) (bluegreen.HostInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if host != testHost {
		return bluegreen.HostInfo{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no color lists host %q", host)
	}
	hi := bluegreen.HostInfo{Name: host, Color: bluegreen.Green, Address: "127.0.0.1:1"}
	if f.order != nil {
		o := *f.order
		hi.Order = &o
	}
	return hi, nil
}

// AgentReport keeps rep and, as serve does, holds an answer with nothing
// new for the agent until the order changes or wait is over.
func (f *fakeService) AgentReport(ctx context.Context, host string, rep bluegreen.AgentReport, wait time.Duration) (bluegreen.HostInfo, error) {
	f.mu.Lock()
	f.reports = append(f.reports, rep)
	news := f.order.News(rep)
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	changed := f.changed
	f.mu.Unlock()
	if !news && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return f.HostInfo(ctx, host)
}

func (f *fakeService) ReleaseArchive(ctx context.Context, host, sha string, w io.Writer) error {
	f.mu.Lock()
	b, ok := f.archives[sha]
	f.fetches++
	f.mu.Unlock()
	if !ok {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "%s is not a release of host %s", sha, host)
	}
	_, err := w.Write(b)
	return err
}

// reportCount returns how many reports came so far.
func (f *fakeService) reportCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reports)
}

// lastReport returns the latest report that pass accepts among those from
// the from'th on.
func (f *fakeService) lastReport(from int, pass func(bluegreen.AgentReport) bool) (bluegreen.AgentReport, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reports) - 1; i >= from; i-- {
		if pass(f.reports[i]) {
			return f.reports[i], true
		}
	}
	return bluegreen.AgentReport{}, false
}

const testHost = "app-1"

// harness is serve's API (the real handler, tokens in a real SQLite store)
// on a loopback address, and an agent directory.
type harness struct {
	t      *testing.T
	svc    *fakeService
	api    http.Handler
	addr   string
	srv    *http.Server
	client *api.Client // with the agent token of testHost
	dir    string
	logs   *syncBuffer
	port   int          // the app's
	calls  atomic.Int64 // API calls received
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, svc: &fakeService{archives: map[string][]byte{}}, dir: filepath.Join(t.TempDir(), "agent"),
		logs: &syncBuffer{}, port: freePort(t)}
	handler := api.NewHandler(h.svc, api.Options{Token: "admin-secret", Tokens: st})
	h.api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		handler.ServeHTTP(w, r)
	})
	h.serve()
	nt, err := api.NewClient(h.addr, "admin-secret", "tester").CreateToken(t.Context(),
		api.TokenRequest{Name: "agent-" + testHost, Role: bluegreen.RoleAgent, Host: testHost})
	if err != nil {
		t.Fatalf("creating the agent token: %v", err)
	}
	h.client = api.NewClient(h.addr, nt.Secret, "agent")
	// Registered first, so run last: after the agents stopped, stop the
	// apps they left running.
	t.Cleanup(func() {
		apps := process.NewApps(process.AppsConfig{Binary: testBinary(t), Root: filepath.Join(h.dir, runDir)})
		apps.Adopt()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, c := range bluegreen.Colors {
			if err := apps.Stop(ctx, c); err != nil {
				t.Errorf("stopping the %s app: %v", c, err)
			}
		}
	})
	return h
}

// serve starts the API on h.addr (a new loopback address the first time).
func (h *harness) serve() {
	h.t.Helper()
	addr := h.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	srv := &http.Server{Handler: h.api}
	go srv.Serve(ln)
	h.srv = srv
	h.t.Cleanup(func() { srv.Close() })
}

// runAgent starts an agent on h.dir reporting every interval; stop ends it
// and returns Run's error.
func (h *harness) runAgent(interval time.Duration) (stop func() error) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(h.logs, h.t.Output()), nil))
	go func() {
		done <- Run(ctx, Options{Client: h.client, Host: testHost, Dir: h.dir, Interval: interval, Version: "test",
			Binary: testBinary(h.t), Logger: logger})
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				err = errors.New("the agent did not return within a minute of its context's end")
			}
		})
		return err
	}
	h.t.Cleanup(func() { stop() })
	return stop
}

// order returns the order of deployment id for release sha, whose app is
// the test binary's testapp on h.port.
func (h *harness) order(id, sha string, build ...string) *bluegreen.HostOrder {
	return &bluegreen.HostOrder{Deployment: id, Color: bluegreen.Green, Ref: "main", SHA: sha, Build: build,
		Run: `exec "$TESTBIN" testapp`, StopGraceMS: 5000, KeepReleases: 2,
		Env: []string{"TESTBIN=" + testBinary(h.t), fmt.Sprintf("PORT=%d", h.port), "WORD=" + secretWord}}
}

// secretWord is in every order's Env: it must reach the build and the app
// and never the agent's log.
const secretWord = "s3cret-w0rd"

// addRelease makes the archive of release sha, whose VERSION is version.
func (h *harness) addRelease(sha, version string) {
	b := tarOf(h.t, entry{name: "bin/", typ: '5', mode: 0o755}, entry{name: "VERSION", body: version + "\n"})
	h.svc.mu.Lock()
	h.svc.archives[sha] = b
	h.svc.mu.Unlock()
}

// waitReport waits for a report, from the from'th on, that pass accepts.
func (h *harness) waitReport(from int, what string, pass func(bluegreen.AgentReport) bool) bluegreen.AgentReport {
	h.t.Helper()
	var rep bluegreen.AgentReport
	testenv.WaitFor(h.t, 30*time.Second, what, func() bool {
		var ok bool
		rep, ok = h.svc.lastReport(from, pass)
		return ok
	})
	return rep
}

// get returns the app's answer to GET /, "" when it does not answer.
func (h *harness) get() string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", h.port))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// phase returns a report predicate: the work of deployment id is in phase p.
func phase(id string, p bluegreen.AgentPhase) func(bluegreen.AgentReport) bool {
	return func(r bluegreen.AgentReport) bool {
		return r.Work != nil && r.Work.Deployment == id && r.Work.Phase == p
	}
}

func testBinary(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for the agent's logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) count(s string) int { return strings.Count(b.String(), s) }
