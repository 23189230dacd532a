package check

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/sched"
)

// TestProberReusesAndRecovers: probes share one kept-alive connection; when
// the upstream closes it while idle, the next probe passes on a new one; a
// slow upstream is reported as "no answer within"; a wrong status is named.
// All of it holds as well for a switch's probe, which waits for the answer
// blocked on a thread of raised priority.
func TestProberReusesAndRecovers(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testProber(t, context.Background()) })
	t.Run("raised", func(t *testing.T) {
		ctx, done := sched.Raise(context.Background())
		defer done()
		if !sched.Raised(ctx) {
			t.Skip("this process may not raise a thread's priority (no CAP_SYS_NICE or RLIMIT_NICE)")
		}
		waits := countWaits(t)
		testProber(t, ctx)
		// One wait per exchange: 5 probes, the failed reuse and its
		// retry, the 503 and the stalled one.
		if n := waits.Load(); n != 9 {
			t.Errorf("%d waits on the raised thread, want 9", n)
		}
	})
}

// countWaits counts the calls of waitReadable until the test ends.
func countWaits(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	orig := waitReadable
	waitReadable = func(ctx context.Context, conn net.Conn, d time.Time) {
		n.Add(1)
		orig(ctx, conn, d)
	}
	t.Cleanup(func() { waitReadable = orig })
	return &n
}

// TestRaisedRoundWaitsOnItsOwnGoroutineOnly: in a round over several
// upstreams, only the probe on the raised caller's goroutine waits blocked
// on its thread; the others, on goroutines of their own, do not.
func TestRaisedRoundWaitsOnItsOwnGoroutineOnly(t *testing.T) {
	ctx, done := sched.Raise(context.Background())
	defer done()
	if !sched.Raised(ctx) {
		t.Skip("this process may not raise a thread's priority (no CAP_SYS_NICE or RLIMIT_NICE)")
	}
	var status atomic.Int32
	status.Store(200)
	ups := []string{upstream(t, &status), upstream(t, &status), upstream(t, &status)}
	m := NewMonitor(map[bluegreen.Color]Target{bluegreen.Green: {Upstreams: ups, Spec: spec()}}, nil, nil)
	waits := countWaits(t)
	if _, err := m.Verify(ctx, bluegreen.Green); err != nil {
		t.Fatal(err)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("%d waits in a raised round over 3 upstreams, want 1 (the caller's own probe)", n)
	}
	if _, err := m.Verify(context.Background(), bluegreen.Green); err != nil {
		t.Fatal(err)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("an ordinary round waited on its thread (%d waits in all, want still 1)", n)
	}
}

func testProber(t *testing.T, ctx context.Context) {
	var conns atomic.Int32
	var status atomic.Int32
	status.Store(200)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		if r.Header.Get("User-Agent") != "bluegreen-health" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	p := &prober{now: time.Now}

	for i := range 5 {
		if err := p.probe(ctx, addr, spec()); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 probes opened %d connections, want 1 kept alive", n)
	}

	srv.CloseClientConnections() // the upstream drops the idle connection
	if err := p.probe(ctx, addr, spec()); err != nil {
		t.Fatalf("probe after the upstream closed the idle connection: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections after the reconnect, want 2", n)
	}

	status.Store(503)
	if err := p.probe(ctx, addr, spec()); err == nil || !strings.Contains(err.Error(), "status 503, want 200") {
		t.Fatalf("probe of a 503: %v", err)
	}

	slow := spec()
	slow.Path, slow.Timeout = "/slow", 50*time.Millisecond
	err := p.probe(ctx, addr, slow)
	once.Do(func() { close(release) })
	if err == nil || !strings.Contains(err.Error(), addr+": GET /slow: no answer within 50ms") {
		t.Fatalf("probe of a stalled upstream: %v", err)
	}
}
