package loadgen

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

func TestRequestsLimitIsExactAndConnectionsAreReused(t *testing.T) {
	s := newServer(t, okHandler)
	res := run(t, Options{URL: s.URL, Connections: 4, Requests: 3000})
	if res.Requests != 3000 || res.OK != 3000 || s.requests.Load() != 3000 {
		t.Fatalf("client %v; server saw %d, want 3000 each", res, s.requests.Load())
	}
	if res.Dials != 4 || s.conns.Load() != 4 {
		t.Errorf("dials %d, server connections %d, want 4 (one kept-alive connection per worker)",
			res.Dials, s.conns.Load())
	}
	if res.ByColor["blue"] != 3000 {
		t.Errorf("ByColor = %v, want blue=3000", res.ByColor)
	}
	l := res.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency percentiles not ordered: %+v", l)
	}
	if len(res.FirstErrors) != 0 || len(res.Failures) != 0 {
		t.Errorf("unexpected failures: %v %v", res.Failures, res.FirstErrors)
	}
}

func TestDurationRunMatchesServerCount(t *testing.T) {
	s := newServer(t, okHandler)
	res := run(t, Options{URL: s.URL, Connections: 3, Duration: 300 * time.Millisecond})
	if res.Requests == 0 || res.Requests != s.requests.Load() || res.Aborted != 0 {
		t.Fatalf("client %v; server saw %d", res, s.requests.Load())
	}
	if res.Elapsed < 300*time.Millisecond {
		t.Errorf("Elapsed %v, want >= the 300ms Duration", res.Elapsed)
	}
}

func TestContextCancelEndsRun(t *testing.T) {
	s := newServer(t, okHandler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(ctx, Options{URL: s.URL, Connections: 2})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	testenv.WaitFor(t, 10*time.Second, "50 requests", func() bool { return s.requests.Load() >= 50 })
	cancel()
	select {
	case res := <-done:
		if res.Requests != s.requests.Load() || res.Failed != 0 {
			t.Fatalf("client %v; server saw %d", res, s.requests.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx was canceled")
	}
}

// hijackClose takes the connection from net/http and closes it without a
// response, with a reset (RST) instead of a FIN when reset is true.
func hijackClose(t *testing.T, w http.ResponseWriter, reset bool) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	if reset {
		c.(*net.TCPConn).SetLinger(0)
	}
	c.Close()
}

func TestAbruptCloseCountsFailuresAndRedials(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		reset bool
	}{{"eof", false}, {"reset", true}} {
		t.Run(tc.kind, func(t *testing.T) {
			s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				if n%3 == 0 {
					hijackClose(t, w, tc.reset)
					return
				}
				okHandler(n, w, r)
			})
			res := run(t, Options{URL: s.URL, Connections: 2, Requests: 300})
			if res.Requests != 300 || s.requests.Load() != 300 {
				t.Fatalf("client %v; server saw %d, want 300", res, s.requests.Load())
			}
			if res.Failed != 100 || res.Failures[tc.kind] != 100 || res.OK != 200 {
				t.Fatalf("got %v; want 100 %s failures and 200 ok", res, tc.kind)
			}
			// Every close forces one new connection, except after a worker's last request.
			if res.Dials < 100 || res.Dials > 102 {
				t.Errorf("Dials = %d, want 100..102", res.Dials)
			}
			if len(res.FirstErrors) != maxFirstErrors || !strings.HasPrefix(res.FirstErrors[0], tc.kind+": ") {
				t.Errorf("FirstErrors = %q", res.FirstErrors)
			}
		})
	}
}

func TestStatusFailures(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n%2 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		okHandler(n, w, r)
	})
	res := run(t, Options{URL: s.URL, Connections: 2, Requests: 100})
	if res.OK != 50 || res.Failed != 50 || res.Failures["status 500"] != 50 {
		t.Fatalf("got %v; want 50 ok and 50 \"status 500\"", res)
	}
	if res.FirstErrors[0] != "status 500" {
		t.Errorf("FirstErrors[0] = %q", res.FirstErrors[0])
	}
	if res.Dials != 2 {
		t.Errorf("Dials = %d: a 500 must not break the connection", res.Dials)
	}

	res = run(t, Options{URL: s.URL, Requests: 10, OKStatus: func(int) bool { return true }})
	if res.OK != 10 || res.Failed != 0 {
		t.Errorf("with OKStatus accepting all: %v", res)
	}
}

func TestColorCounting(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch n % 3 {
		case 0:
			w.Header()["x-color"] = []string{"blue"} // non-canonical case on the wire
		case 1:
			w.Header().Set("X-Color", "green")
		}
		w.Write([]byte("hi"))
	})
	res := run(t, Options{URL: s.URL, Connections: 3, Requests: 300, ColorHeader: "X-Color"})
	want := map[string]int64{"blue": 100, "green": 100, "": 100}
	for k, n := range want {
		if res.ByColor[k] != n {
			t.Fatalf("ByColor = %v, want %v", res.ByColor, want)
		}
	}
	if len(res.ByColor) != len(want) {
		t.Fatalf("ByColor = %v, want %v", res.ByColor, want)
	}
}

// blockingServer holds every request until release is called (or the client
// goes away). release may be called more than once.
func blockingServer(t *testing.T) (s *server, started func() int64, release func()) {
	ch := make(chan struct{})
	s = newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-ch:
			w.Write([]byte("late"))
		case <-r.Context().Done():
		}
	})
	var once sync.Once
	return s, s.requests.Load, func() { once.Do(func() { close(ch) }) }
}

func TestStopIsPromptAgainstAHangingServer(t *testing.T) {
	for _, grace := range []time.Duration{-1, 50 * time.Millisecond, 0 /* default 1s */} {
		s, started, release := blockingServer(t)
		r, err := Start(context.Background(), Options{URL: s.URL, Connections: 4, Grace: grace})
		if err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, 10*time.Second, "4 requests in flight", func() bool { return started() == 4 })
		t0 := time.Now()
		res := r.Stop()
		took := time.Since(t0)
		release()
		if took > DefaultGrace+2*time.Second {
			t.Errorf("grace %v: Stop took %v", grace, took)
		}
		if res.Aborted != 4 || res.Requests != 0 || res.Failed != 0 {
			t.Errorf("grace %v: got %v; want 4 aborted and nothing failed", grace, res)
		}
	}
}

func TestStopLetsRequestsInFlightFinish(t *testing.T) {
	s, started, release := blockingServer(t)
	r, err := Start(context.Background(), Options{URL: s.URL, Connections: 4, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "4 requests in flight", func() bool { return started() == 4 })
	stopped := make(chan *Result)
	go func() { stopped <- r.Stop() }()
	testenv.WaitFor(t, 10*time.Second, "the run to end", r.soft.Load)
	release()
	res := <-stopped
	if res.OK != 4 || res.Requests != 4 || res.Aborted != 0 || s.requests.Load() != 4 {
		t.Fatalf("got %v, server saw %d; want the 4 requests in flight to finish and no new ones",
			res, s.requests.Load())
	}
	if again := r.Stop(); again.OK != 4 {
		t.Errorf("second Stop: %v", again)
	}
}

func TestTimeout(t *testing.T) {
	s, _, release := blockingServer(t)
	defer release()
	res := run(t, Options{URL: s.URL, Connections: 1, Requests: 2, Timeout: 100 * time.Millisecond})
	if res.Failures["timeout"] != 2 || res.Failed != 2 {
		t.Fatalf("got %v, want 2 timeouts", res)
	}
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := run(t, Options{URL: "http://" + addr + "/", Connections: 2, Requests: 6})
	if res.Failures["refused"] != 6 || res.Dials != 6 {
		t.Fatalf("got %v (dials %d), want 6 refused", res, res.Dials)
	}
}

func TestSnapshotWhileRunning(t *testing.T) {
	s := newServer(t, okHandler)
	r, err := Start(context.Background(), Options{URL: s.URL, Connections: 2})
	if err != nil {
		t.Fatal(err)
	}
	var snap Result
	testenv.WaitFor(t, 10*time.Second, "200 requests in a snapshot", func() bool {
		snap = r.Snapshot()
		return snap.Requests >= 200
	})
	if snap.OK != snap.Requests || snap.ByColor["blue"] != snap.Requests || snap.Elapsed <= 0 {
		t.Errorf("snapshot %v", &snap)
	}
	res := r.Stop()
	if res.Requests < snap.Requests || res.Requests != s.requests.Load() {
		t.Errorf("final %v after snapshot %v; server saw %d", res, &snap, s.requests.Load())
	}
	select {
	case <-r.Done():
	default:
		t.Error("Done not closed after Stop")
	}
}

func TestRate(t *testing.T) {
	s := newServer(t, okHandler)
	res := run(t, Options{URL: s.URL, Connections: 4, Requests: 100, Rate: 1000})
	if res.OK != 100 {
		t.Fatalf("got %v", res)
	}
	// Request i starts no earlier than i/Rate after the start.
	if res.Elapsed < 99*time.Millisecond {
		t.Errorf("100 requests at 1000/s took %v, want >= 99ms", res.Elapsed)
	}
	res = run(t, Options{URL: s.URL, Connections: 4, Duration: 300 * time.Millisecond, Rate: 100})
	if res.Requests > 35 || res.Requests < 10 {
		t.Errorf("300ms at 100/s: %d requests, want 10..35 (about 30)", res.Requests)
	}
}

func TestTLS(t *testing.T) {
	s := startServer(t, okHandler, true)
	cfg := s.Client().Transport.(*http.Transport).TLSClientConfig
	res := run(t, Options{URL: s.URL, Connections: 2, Requests: 50, TLSConfig: cfg})
	if res.OK != 50 || res.Dials != 2 || s.requests.Load() != 50 {
		t.Fatalf("got %v (dials %d), server saw %d", res, res.Dials, s.requests.Load())
	}
}

func TestRequestHostAndHeaders(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.Host != "app.example" || r.Header.Get("X-Test") != "yes" || r.URL.RequestURI() != "/p?q=1" ||
			r.Method != http.MethodGet || r.Header.Get("User-Agent") != "bluegreen-loadgen" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		okHandler(n, w, r)
	})
	res := run(t, Options{URL: s.URL + "/p?q=1", Requests: 20, Host: "app.example",
		Header: http.Header{"X-Test": {"yes"}}})
	if res.OK != 20 {
		t.Fatalf("got %v", res)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{
		{URL: "ftp://127.0.0.1/"},
		{URL: "http:///nohost"},
		{URL: "://bad"},
		{URL: "http://127.0.0.1/", Connections: -1},
		{URL: "http://127.0.0.1/", Rate: -1},
		{URL: "http://127.0.0.1/", Header: http.Header{"Host": {"x"}}},
		{URL: "http://127.0.0.1/", Header: http.Header{"X-A": {"a\r\nb"}}},
		{URL: "http://127.0.0.1/", Host: "a b"},
	} {
		if _, err := Run(context.Background(), o); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("%+v: err %v, want code %s", o, err, bluegreen.EINVALID)
		}
	}
}
