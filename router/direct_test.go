package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// connBackend is a backend that counts the connections it accepted and
// closed and the requests it served.
type connBackend struct {
	srv                    *httptest.Server
	opened, closed, served atomic.Int64
}

func newConnBackend(t *testing.T, h http.HandlerFunc) *connBackend {
	t.Helper()
	b := &connBackend{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.served.Add(1)
		h(w, r)
	}))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			b.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			b.closed.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *connBackend) addr() string { return b.srv.Listener.Addr().String() }

func (b *connBackend) routerFor(t *testing.T) *testRouter {
	t.Helper()
	return startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {b.addr()}})
}

// do sends a request and returns its status and body.
func do(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
}

// TestDirectReusesConnection: sequential requests of several shapes share
// one upstream connection.
func TestDirectReusesConnection(t *testing.T) {
	b := newConnBackend(t, okHandler)
	tr := b.routerFor(t)
	c := newClient(t)
	for i := range 20 {
		method, body := "GET", ""
		switch i % 4 {
		case 1:
			method, body = "POST", "payload"
		case 2:
			method = "HEAD"
		case 3:
			method = "DELETE"
		}
		status, got := do(t, c, method, "http://"+tr.pub+"/", body)
		want := "ok"
		if method == "HEAD" {
			want = ""
		}
		if status != 200 || got != want {
			t.Fatalf("request %d (%s): %d %q", i, method, status, got)
		}
	}
	if n := b.opened.Load(); n != 1 {
		t.Fatalf("20 sequential requests opened %d upstream connections, want 1", n)
	}
	if n := b.served.Load(); n != 20 {
		t.Fatalf("upstream served %d requests, want 20", n)
	}
}

// staleConn leaves the router with exactly one idle upstream connection,
// which the upstream has closed.
func staleConn(t *testing.T, b *connBackend, c *http.Client, tr *testRouter) {
	t.Helper()
	if status, _ := do(t, c, "GET", "http://"+tr.pub+"/", ""); status != 200 {
		t.Fatalf("first GET: %d", status)
	}
	testenv.WaitFor(t, 5*time.Second, "the upstream connection to be idle", func() bool { return b.opened.Load() == 1 })
	b.srv.CloseClientConnections()
	testenv.WaitFor(t, 5*time.Second, "the upstream to close its connection", func() bool { return b.closed.Load() == 1 })
}

// TestDirectRetriesIdempotentOnStaleConn: a GET that meets a connection
// the upstream closed while it was idle is sent again on a fresh one.
func TestDirectRetriesIdempotentOnStaleConn(t *testing.T) {
	b := newConnBackend(t, okHandler)
	tr := b.routerFor(t)
	c := newClient(t)
	staleConn(t, b, c, tr)
	if status, body := do(t, c, "GET", "http://"+tr.pub+"/", ""); status != 200 || body != "ok" {
		t.Fatalf("GET after the upstream closed the idle connection: %d %q", status, body)
	}
	if n := b.opened.Load(); n != 2 {
		t.Fatalf("upstream connections %d, want 2 (the stale one and the retry's)", n)
	}
	if s := tr.Stats()[bluegreen.Blue]; s.UpstreamErrors != 0 {
		t.Fatalf("stats %+v: the retried request counted as an upstream error", s)
	}
}

// TestDirectPostSkipsClosedIdleConn: a POST with a body cannot be retried,
// so an idle connection the upstream closed is noticed before it is used.
func TestDirectPostSkipsClosedIdleConn(t *testing.T) {
	b := newConnBackend(t, okHandler)
	tr := b.routerFor(t)
	c := newClient(t)
	staleConn(t, b, c, tr)
	if status, body := do(t, c, "POST", "http://"+tr.pub+"/", "payload"); status != 200 || body != "ok" {
		t.Fatalf("POST after the upstream closed the idle connection: %d %q", status, body)
	}
	if n := b.opened.Load(); n != 2 {
		t.Fatalf("upstream connections %d, want 2", n)
	}
}

// dropSecond is a raw HTTP/1.1 upstream that answers the first request on
// each connection and closes the connection, unanswered, when the second
// one has arrived: the request was sent, and may have been acted on.
type dropSecond struct {
	addr          string
	conns, served atomic.Int64
	methods       chan string // every request received, answered or not
}

func newDropSecond(t *testing.T) *dropSecond {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	d := &dropSecond{addr: ln.Addr().String(), methods: make(chan string, 16)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			d.conns.Add(1)
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					d.methods <- req.Method
					if i > 0 {
						return
					}
					d.served.Add(1)
					io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	return d
}

// TestDirectRetryAfterSendOnlyIfSafe: a request that reached the upstream
// on a reused connection and got no answer is sent again on a fresh
// connection when it is a GET, and answered 502 otherwise: a POST or a
// PATCH may have been acted on, with a body or without one.
func TestDirectRetryAfterSendOnlyIfSafe(t *testing.T) {
	for _, tc := range []struct{ method, payload string }{
		{"GET", ""}, {"POST", "payload"}, {"POST", ""}, {"PATCH", ""},
	} {
		method := tc.method
		d := newDropSecond(t)
		tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {d.addr}})
		c := newClient(t)
		if status, _ := do(t, c, "GET", "http://"+tr.pub+"/", ""); status != 200 {
			t.Fatalf("first GET: %d", status)
		}
		status, body := do(t, c, method, "http://"+tr.pub+"/", tc.payload)
		got := []string{recv(t, d.methods, 5*time.Second, "first request"), recv(t, d.methods, 5*time.Second, "second request")}
		switch method {
		case "GET":
			if status != 200 || body != "ok" || d.conns.Load() != 2 {
				t.Fatalf("GET: %d %q over %d connections, want 200 after a retry on a second one", status, body, d.conns.Load())
			}
			got = append(got, recv(t, d.methods, 5*time.Second, "the retry"))
			if got[2] != "GET" {
				t.Fatalf("retry was %s", got[2])
			}
		default:
			if status != http.StatusBadGateway || body != "bluegreen: blue upstream "+d.addr+" unavailable\n" {
				t.Fatalf("%s %q: %d %q, want the 502", method, tc.payload, status, body)
			}
			if n := d.conns.Load(); n != 1 {
				t.Fatalf("%s %q was retried: %d connections", method, tc.payload, n)
			}
			select {
			case m := <-d.methods:
				t.Fatalf("upstream got another request (%s): the %s was sent twice", m, method)
			default:
			}
			if s := tr.Stats()[bluegreen.Blue]; s.UpstreamErrors != 1 {
				t.Fatalf("stats %+v: want one upstream error", s)
			}
		}
		if got[0] != "GET" || got[1] != method {
			t.Fatalf("upstream got %v", got)
		}
	}
}

// strayBackend is a raw HTTP/1.1 upstream that answers every request with
// "conn N PATH" and, after its first answer on its first connection, once
// inject is closed, sends a response nobody asked for on that connection;
// strayed is closed once it has (on loopback a write is in the peer's
// buffer when it returns).
func strayBackend(t *testing.T) (addr string, inject, strayed chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	inject, strayed = make(chan struct{}), make(chan struct{})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for first := true; ; first = false {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					body := fmt.Sprintf("conn %d %s", n, req.URL.Path)
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					if n == 1 && first {
						<-inject
						io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Injected: 1\r\nContent-Length: 8\r\n\r\npoisoned")
						close(strayed)
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), inject, strayed
}

// TestStrayBytesNeverReachAClient: an upstream that sends bytes nobody
// asked for on an idle connection (a second response after the first)
// leaves that connection unusable: the next requests go out on a fresh one
// and get their own answers, never the stray one (nor, after it, the
// answer meant for the request before). With net/http's client (whose
// requests the goroutine path forwards) and with the plainest raw
// requests (which the event loop forwards over its own connections).
func TestStrayBytesNeverReachAClient(t *testing.T) {
	t.Run("http client", func(t *testing.T) {
		addr, inject, strayed := strayBackend(t)
		tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {addr}})
		c := newClient(t)
		if status, body := do(t, c, "GET", "http://"+tr.pub+"/first", ""); status != 200 || body != "conn 1 /first" {
			t.Fatalf("first GET: %d %q", status, body)
		}
		close(inject)
		<-strayed
		for i, path := range []string{"/second", "/third"} {
			status, body := do(t, c, "GET", "http://"+tr.pub+path, "")
			if status != 200 || !strings.HasSuffix(body, " "+path) || strings.Contains(body, "poisoned") {
				t.Fatalf("request %d (%s) after the stray response: %d %q, want its own answer", i+2, path, status, body)
			}
		}
	})
	t.Run("raw", func(t *testing.T) {
		addr, inject, strayed := strayBackend(t)
		tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {addr}})
		conn, br := rawConn(t, tr.pub)
		get := func(path string) (int, string) {
			if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(body)
		}
		if status, body := get("/first"); status != 200 || body != "conn 1 /first" {
			t.Fatalf("first GET: %d %q", status, body)
		}
		close(inject)
		<-strayed
		for i, path := range []string{"/second", "/third"} {
			if status, body := get(path); status != 200 || !strings.HasSuffix(body, " "+path) || strings.Contains(body, "poisoned") {
				t.Fatalf("request %d (%s) after the stray response: %d %q, want its own answer", i+2, path, status, body)
			}
		}
	})
}

// TestDirectConnectionCloseNotReused: an upstream that answers
// "Connection: close" gets a new connection for every request. POSTs,
// because a reused dead connection would give them a 502 (no retry).
func TestDirectConnectionCloseNotReused(t *testing.T) {
	b := newConnBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	tr := b.routerFor(t)
	c := newClient(t)
	for i := range 5 {
		if status, body := do(t, c, "POST", "http://"+tr.pub+"/", "payload"); status != 200 || body != "bye" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := b.opened.Load(); n != 5 {
		t.Fatalf("upstream connections %d, want 5 (one per request)", n)
	}
	if s := tr.Stats()[bluegreen.Blue]; s.UpstreamErrors != 0 || s.Status[1] != 5 {
		t.Fatalf("stats %+v", s)
	}
}

// TestDirectConcurrentRequests: parallel clients, several upstream
// connections, every response intact; the pool keeps what it opened.
func TestDirectConcurrentRequests(t *testing.T) {
	b := newConnBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("n"))
	})
	tr := b.routerFor(t)
	c := newClient(t)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				want := strings.Repeat("x", g*100+i)
				resp, err := c.Get("http://" + tr.pub + "/?n=" + want)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(got) != want {
					errs <- &mismatch{want: want, got: string(got)}
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := recv(t, errs, 30*time.Second, "a client"); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.opened.Load(); n > 8 {
		t.Fatalf("8 clients opened %d upstream connections, want at most 8", n)
	}
	if n := b.served.Load(); n != 400 {
		t.Fatalf("served %d, want 400", n)
	}
}

type mismatch struct{ want, got string }

func (m *mismatch) Error() string { return "got " + m.got + ", want " + m.want }

// TestDirectResponseWithoutLength: a response delimited by the upstream
// closing the connection is forwarded whole and its connection not reused.
func TestDirectResponseWithoutLength(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				conn.Read(buf) // the request head (small, one read is enough on loopback)
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
			}()
		}
	}()
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {ln.Addr().String()}})
	c := newClient(t)
	for i := range 3 {
		if status, body := do(t, c, "GET", "http://"+tr.pub+"/", ""); status != 200 || body != "until close" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Fatalf("accepted %d connections, want 3", n)
	}
}

// TestReverseProxyOnly: the option routes every request through the
// ReverseProxy engine, which still forwards as the default one does.
func TestReverseProxyOnly(t *testing.T) {
	for _, only := range []bool{false, true} {
		tr := echoRouter(t, Options{ReverseProxyOnly: only, ColorHeader: true}, nil)
		if _, isProxy := tr.eng.(*proxyEngine); isProxy != only {
			t.Fatalf("ReverseProxyOnly=%v: engine %T", only, tr.eng)
		}
		resp, err := newClient(t).Post("http://"+tr.pub+"/x", "text/plain", strings.NewReader("abc"))
		if err != nil {
			t.Fatal(err)
		}
		s := decodeSeen(t, resp.Body)
		resp.Body.Close()
		if resp.Header.Get(headerColor) != "blue" || s.BodyLen != 3 || s.Header.Get("X-Forwarded-For") != "127.0.0.1" {
			t.Fatalf("ReverseProxyOnly=%v: color %q, upstream saw %+v", only, resp.Header.Get(headerColor), s)
		}
	}
}

// TestSetUpstreamsClosesIdle: replacing an address closes the idle
// connections to it.
func TestSetUpstreamsClosesIdle(t *testing.T) {
	b := newConnBackend(t, okHandler)
	tr := b.routerFor(t)
	c := newClient(t)
	if status, _ := do(t, c, "GET", "http://"+tr.pub+"/", ""); status != 200 {
		t.Fatalf("GET: %d", status)
	}
	if err := tr.SetUpstreams(bluegreen.Blue, []string{newBackend(t, colorHandler("other"))}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the idle connection to the old address to close", func() bool { return b.closed.Load() == 1 })
	if _, _, body := get(t, c, "http://"+tr.pub+"/"); body != "other" {
		t.Fatalf("after SetUpstreams: %q", body)
	}
}

// TestDrainCutsSlowUpload: a request whose client stops sending its body
// is cut at the drain deadline (504) and stops counting as in flight,
// although the client never sends the rest.
func TestDrainCutsSlowUpload(t *testing.T) {
	b := newConnBackend(t, okHandler)
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue:  {b.addr()},
		bluegreen.Green: {newBackend(t, colorHandler("green"))},
	})
	conn, br := rawConn(t, tr.pub)
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	testenv.WaitFor(t, 5*time.Second, "the router to connect to the upstream", func() bool { return b.opened.Load() == 1 })
	res := tr.Switch(bluegreen.Green).Wait(context.Background(), 100*time.Millisecond)
	if res.InFlightAtSwap != 1 || res.Cancelled != 1 {
		t.Fatalf("drain %+v: want the upload cancelled", res)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGatewayTimeout || string(body) != "bluegreen: blue request cut at the drain deadline\n" {
		t.Fatalf("cut upload got %d %q", resp.StatusCode, body)
	}
	testenv.WaitFor(t, 5*time.Second, "blue in flight to reach 0", func() bool { return tr.Stats()[bluegreen.Blue].InFlight == 0 })
}
