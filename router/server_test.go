package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// testServer runs a Server with handler h and counts its connection
// states. path records which path served each request: "fast" when the
// response writer is the fast path's.
type testServer struct {
	*Server
	addr         string
	news, closes atomic.Int64
	fast, std    atomic.Int64
}

func startServer(t *testing.T, h http.Handler, stdOnly bool) *testServer {
	t.Helper()
	var ts *testServer
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*fastResponse); ok {
			ts.fast.Add(1)
		} else {
			ts.std.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	ts = newTestServer(counted, 5*time.Second, stdOnly)
	ts.addr = serve(t, ts.Server)
	return ts
}

// newTestServer returns a Server for h (header timeout 1 s) counting new
// and closed connections, not yet serving.
func newTestServer(h http.Handler, idle time.Duration, stdOnly bool) *testServer {
	ts := &testServer{}
	ts.Server = newServer(h, time.Second, idle, slog.New(slog.DiscardHandler))
	ts.stdOnly = stdOnly
	ts.ConnState = countConns(&ts.news, &ts.closes)
	return ts
}

// echoInfo answers with what the handler saw.
func echoInfo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, r.Method+" "+r.Host+" "+r.RequestURI+" "+r.Proto+" body="+string(body)+" host-header="+strings.Join(r.Header["Host"], ","))
}

// rawExchange writes raw on a new connection and reads n responses.
func rawExchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	conn, br := rawConn(t, addr)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	return readResponses(t, br, n)
}

func readResponses(t *testing.T, br *bufio.Reader, n int) []*http.Response {
	t.Helper()
	methods := make([]string, n)
	for i := range methods {
		methods[i] = http.MethodGet
	}
	return readResponsesHead(t, br, methods)
}

func bodyOf(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestServerFastPathPipelined: plain requests, pipelined in one write, are
// answered in order by the fast path on one connection, Host is out of the
// header map as net/http does, and bodies (sized and chunked) arrive.
func TestServerFastPathPipelined(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echoInfo), false)
	res := rawExchange(t, ts.addr, "GET /a?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello"+
		"PUT /c HTTP/1.1\r\nHost: example.test:8080\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 3)
	want := []string{
		"GET example.test /a?x=1 HTTP/1.1 body= host-header=",
		"POST example.test /b HTTP/1.1 body=hello host-header=",
		"PUT example.test:8080 /c HTTP/1.1 body=abc host-header=",
	}
	for i, r := range res {
		if got := bodyOf(r); got != want[i] || r.StatusCode != 200 {
			t.Errorf("response %d: %d %q, want 200 %q", i+1, r.StatusCode, got, want[i])
		}
		if r.Header.Get("Date") == "" || r.ContentLength != int64(len(want[i])) && !(r.ContentLength == -1 && len(r.TransferEncoding) == 1) {
			t.Errorf("response %d: Date %q, length %d, TE %v", i+1, r.Header.Get("Date"), r.ContentLength, r.TransferEncoding)
		}
	}
	if ts.fast.Load() != 3 || ts.std.Load() != 0 {
		t.Fatalf("fast path served %d, net/http %d; want 3 and 0", ts.fast.Load(), ts.std.Load())
	}
	if ts.news.Load() != 1 {
		t.Fatalf("%d connections reported new, want 1", ts.news.Load())
	}
}

// TestServerHandsOffTheUnusual: requests the fast path does not take are
// answered exactly as a plain net/http server answers them (refusals
// included), and the connection goes on under net/http.
func TestServerHandsOffTheUnusual(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echoInfo), false)
	ref := startServer(t, http.HandlerFunc(echoInfo), true) // net/http alone
	cases := []struct{ name, raw string }{
		{"HTTP/1.0", "GET /old HTTP/1.0\r\nHost: h\r\n\r\n"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"odd Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
		{"bare LF", "GET /lf HTTP/1.1\nHost: h\n\n"},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n"},
		{"space before colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n"},
		{"folded header", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n"},
		{"absolute form", "GET http://h/abs HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"unknown method", "PROPFIND /p HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"Expect", "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi"},
		{"gzip transfer coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
		{"version 1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"big head", "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fast := ts.fast.Load()
			got := rawExchange(t, ts.addr, c.raw, 1)[0]
			want := rawExchange(t, ref.addr, c.raw, 1)[0]
			gotBody, wantBody := bodyOf(got), bodyOf(want)
			// A refusal's text may differ (vetHead's or net/http's
			// own), never its status.
			if got.StatusCode != want.StatusCode || (got.StatusCode < 400 && gotBody != wantBody) {
				t.Fatalf("answered %d %q; net/http answers %d %q", got.StatusCode, gotBody, want.StatusCode, wantBody)
			}
			if ts.fast.Load() != fast {
				t.Fatalf("the fast path served it")
			}
		})
	}

	// After a hand-off the connection keeps serving (by net/http).
	fast, std := ts.fast.Load(), ts.std.Load()
	res2 := rawExchange(t, ts.addr, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n", 3)
	for i, r := range res2 {
		if r.StatusCode != 200 {
			t.Fatalf("response %d after a hand-off: %d", i+1, r.StatusCode)
		}
	}
	if ts.fast.Load() != fast+1 || ts.std.Load() != std+2 {
		t.Fatalf("fast %d net/http %d: want the first request fast, the two after it by net/http", ts.fast.Load()-fast, ts.std.Load()-std)
	}
}

// TestServerResponseFraming: the fast path's writer frames what handlers
// write: a declared length, chunked without one (with trailers), nothing for
// HEAD, 204 and 304, Content-Length: 0 for an empty answer, and closes the
// connection when a body is shorter than declared or "Connection: close"
// was asked.
func TestServerResponseFraming(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/len":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "fixed")
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part2")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		case "/empty":
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusNotModified)
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "short")
		case "/long":
			w.Header().Set("Content-Length", "2")
			if _, err := io.WriteString(w, "toolong"); err == nil {
				t.Error("writing past Content-Length did not fail")
			}
		case "/early":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "after hints")
		}
	}), false)

	conn, br := rawConn(t, ts.addr)
	io.WriteString(conn, "GET /len HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n"+
		"HEAD /len HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /empty HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /notmodified HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /long HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /early HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponsesHead(t, br, []string{"GET", "GET", "HEAD", "GET", "GET", "GET", "GET", "GET"})
	type want struct {
		status int
		body   string
		length int64
	}
	wants := []want{{200, "fixed", 5}, {200, "part1,part2", -1}, {200, "", 5}, {200, "", 0}, {204, "", 0}, {304, "", 10}, {200, "to", 2}, {103, "", 0}}
	for i, w := range wants {
		r := res[i]
		if r.StatusCode != w.status || bodyOf(r) != w.body || (w.status < 300 && w.status >= 200 && r.ContentLength != w.length) {
			t.Errorf("response %d: %d %q length %d, want %d %q length %d", i+1, r.StatusCode, bodyOf(r), r.ContentLength, w.status, w.body, w.length)
		}
	}
	if got := res[1].Trailer; got.Get("X-Sum") != "42" || got.Get("X-Late") != "late" {
		t.Errorf("trailers %v, want X-Sum 42 and X-Late late", got)
	}
	if got := res[7].Header.Get("Link"); got == "" {
		t.Errorf("103 without its Link header")
	}
	final := readResponses(t, br, 1)[0] // the final answer after the 103
	if final.StatusCode != 200 || bodyOf(final) != "after hints" {
		t.Errorf("after the 103: %d %q", final.StatusCode, bodyOf(final))
	}

	// A body shorter than its length: the connection must end.
	conn2, br2 := rawConn(t, ts.addr)
	io.WriteString(conn2, "GET /short HTTP/1.1\r\nHost: h\r\n\r\n")
	res2, err := http.ReadResponse(br2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(res2.Body); string(b) != "short" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %q, %v; want the 5 bytes then the connection closed", b, err)
	}

	// "Connection: close" is answered in kind and the connection ends.
	conn3, br3 := rawConn(t, ts.addr)
	io.WriteString(conn3, "GET /len HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	res3 := readResponses(t, br3, 1)[0]
	if !res3.Close || bodyOf(res3) != "fixed" {
		t.Fatalf("Connection: close answered with Close %v body %q", res3.Close, bodyOf(res3))
	}
	if _, err := br3.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close the server did not close: %v", err)
	}
}

// readResponsesHead reads one response per method (HEAD responses have no
// body), 1xx ones included as responses of their own.
func readResponsesHead(t *testing.T, br *bufio.Reader, methods []string) []*http.Response {
	t.Helper()
	var out []*http.Response
	for i, m := range methods {
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i+1, err)
		}
		res.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, res)
	}
	return out
}

// TestServerUnreadBody: a small body the handler did not read is dropped
// and the connection kept; a large one ends the connection.
func TestServerUnreadBody(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ignored your body")
	}), false)
	conn, br := rawConn(t, ts.addr)
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	for i, r := range readResponses(t, br, 2) {
		if r.StatusCode != 200 {
			t.Fatalf("response %d: %d", i+1, r.StatusCode)
		}
	}
	big := maxPostHandlerDrain + 4096
	conn2, br2 := rawConn(t, ts.addr)
	go func() {
		io.WriteString(conn2, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "+strconv.Itoa(big)+"\r\n\r\n")
		conn2.Write(make([]byte, big))
	}()
	readResponses(t, br2, 1)
	if _, err := io.ReadAll(br2); err != nil && !isClosedErr(err) {
		t.Fatalf("after a large unread body: %v", err)
	}
	testenv.WaitFor(t, 5*time.Second, "both connections reported", func() bool { return ts.news.Load() == 2 && ts.closes.Load() >= 1 })
}

// TestServerShutdown: Shutdown closes idle connections at once, lets a
// request in progress finish (on either path), then Serve has returned
// ErrServerClosed; ConnState saw every connection new once and closed once.
func TestServerShutdown(t *testing.T) {
	for _, stdOnly := range []bool{false, true} {
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		ts := newTestServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				started <- struct{}{}
				<-release
			}
			io.WriteString(w, "done")
		}), time.Minute, stdOnly)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- ts.Serve(ln) }()
		addr := ln.Addr().String()

		idle, idleBR := rawConn(t, addr)
		io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		readResponses(t, idleBR, 1)
		busy, busyBR := rawConn(t, addr)
		io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
		recv(t, started, 5*time.Second, "the slow request to start")

		shut := make(chan error, 1)
		go func() { shut <- ts.Shutdown(context.Background()) }()
		if _, err := idleBR.ReadByte(); err == nil {
			t.Fatalf("stdOnly=%v: idle connection not closed by Shutdown", stdOnly)
		}
		close(release)
		if res := readResponses(t, busyBR, 1)[0]; bodyOf(res) != "done" {
			t.Fatalf("stdOnly=%v: the request in progress did not finish", stdOnly)
		}
		if err := recv(t, shut, 5*time.Second, "Shutdown"); err != nil {
			t.Fatalf("stdOnly=%v: Shutdown: %v", stdOnly, err)
		}
		if err := recv(t, served, 5*time.Second, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("stdOnly=%v: Serve returned %v", stdOnly, err)
		}
		testenv.WaitFor(t, 5*time.Second, "both connections closed", func() bool { return ts.closes.Load() == 2 })
		if ts.news.Load() != 2 {
			t.Fatalf("stdOnly=%v: %d connections reported new, want 2", stdOnly, ts.news.Load())
		}
	}
}

// TestServerClientGone: a client that hangs up (a reset) while the upstream
// is still working cancels the request (and the upstream exchange); a client that
// pipelines its next request meanwhile does not, and gets both answers.
func TestServerClientGone(t *testing.T) {
	upstreamGone := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			select {
			case <-r.Context().Done():
				upstreamGone <- struct{}{}
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
		io.WriteString(w, "answer "+r.URL.Path)
	})
	tr := startRouter(t, Options{}, "blue", map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, slow)}})

	// Pipelined behind a slow request: no cancel, both answered in order.
	conn, br := rawConn(t, tr.pub)
	io.WriteString(conn, "GET /wait HTTP/1.1\r\nHost: h\r\n\r\n")
	io.WriteString(conn, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, br, 2)
	if bodyOf(res[0]) != "answer /wait" || bodyOf(res[1]) != "answer /next" {
		t.Fatalf("pipelined answers %q, %q", bodyOf(res[0]), bodyOf(res[1]))
	}
	select {
	case <-upstreamGone:
		t.Fatal("the slow request was cancelled although its client stayed")
	default:
	}

	// Gone: the upstream request is cancelled well before it would answer.
	conn2, _ := rawConn(t, tr.pub)
	io.WriteString(conn2, "GET /wait HTTP/1.1\r\nHost: h\r\n\r\n")
	testenv.WaitFor(t, 5*time.Second, "the request to reach the upstream", func() bool { return tr.Stats()[bluegreen.Blue].InFlight == 1 })
	resetClose(t, conn2)
	recv(t, upstreamGone, 5*time.Second, "the upstream request to be cancelled")
	testenv.WaitFor(t, 5*time.Second, "in flight to return to 0", func() bool { return tr.Stats()[bluegreen.Blue].InFlight == 0 })
}

// TestServerSlowFirstRequest: a first request that takes longer than the
// header timeout is not mistaken for a client gone (the watch must not
// inherit the head's deadline), and the connection serves the next one.
func TestServerSlowFirstRequest(t *testing.T) {
	ts := &testServer{}
	ts.Server = newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
				w.WriteHeader(499)
				return
			case <-time.After(600 * time.Millisecond):
			}
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}), 200*time.Millisecond, time.Minute, slog.New(slog.DiscardHandler))
	ts.addr = serve(t, ts.Server)
	conn, br := rawConn(t, ts.addr)
	io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, br, 1)[0]
	if res.StatusCode != 200 || bodyOf(res) != "ok /slow" {
		t.Fatalf("slow first request: %d %q", res.StatusCode, bodyOf(res))
	}
	io.WriteString(conn, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	if res := readResponses(t, br, 1)[0]; bodyOf(res) != "ok /next" {
		t.Fatalf("next request: %d %q", res.StatusCode, bodyOf(res))
	}
}

// TestServerReviewFixes: behaviours net/http has that the first fast path
// lacked (found by review; each case failed before its fix).
func TestServerReviewFixes(t *testing.T) {
	var afterReturn atomic.Int64
	conns := map[net.Conn][]http.ConnState{}
	var mu sync.Mutex
	ts := &testServer{}
	ts.Server = newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close-body":
			r.Body.Close() // must not read the (huge, never sent) rest
		case "/ctx":
			context.AfterFunc(r.Context(), func() { afterReturn.Add(1) })
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}), time.Second, time.Minute, slog.New(slog.DiscardHandler))
	ts.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		conns[c] = append(conns[c], s)
		mu.Unlock()
	}
	ts.addr = serve(t, ts.Server)

	t.Run("stray CRLF after a body", func(t *testing.T) {
		res := rawExchange(t, ts.addr, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n", 2)
		if bodyOf(res[1]) != "ok /next" {
			t.Fatalf("after a stray CRLF: %d %q", res[1].StatusCode, bodyOf(res[1]))
		}
	})
	t.Run("head ending LF CRLF", func(t *testing.T) {
		res := rawExchange(t, ts.addr, "GET /lf HTTP/1.1\r\nHost: h\r\nX: a\n\r\n", 1)
		if bodyOf(res[0]) != "ok /lf" {
			t.Fatalf("%d %q", res[0].StatusCode, bodyOf(res[0]))
		}
	})
	t.Run("closed body not read", func(t *testing.T) {
		conn, br := rawConn(t, ts.addr)
		io.WriteString(conn, "POST /close-body HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n0123456789")
		res := readResponses(t, br, 1)[0]
		if bodyOf(res) != "ok /close-body" || !res.Close {
			t.Fatalf("%d %q close %v: want the answer at once with Connection: close", res.StatusCode, bodyOf(res), res.Close)
		}
	})
	t.Run("context ends with the handler", func(t *testing.T) {
		rawExchange(t, ts.addr, "GET /ctx HTTP/1.1\r\nHost: h\r\n\r\n", 1)
		testenv.WaitFor(t, 5*time.Second, "the request context to end after the handler", func() bool { return afterReturn.Load() == 1 })
	})
	t.Run("ConnState sees one conn across a hand-off", func(t *testing.T) {
		conn, br := rawConn(t, ts.addr)
		io.WriteString(conn, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.0\r\nHost: h\r\n\r\n")
		readResponses(t, br, 2)
		testenv.WaitFor(t, 5*time.Second, "the connection's close", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for c, ss := range conns {
				if c.RemoteAddr().String() == conn.LocalAddr().String() && ss[len(ss)-1] == http.StateClosed {
					return true
				}
			}
			return false
		})
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for c := range conns {
			if c.RemoteAddr().String() == conn.LocalAddr().String() {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("ConnState saw %d distinct net.Conns for one connection, want 1", n)
		}
	})
}

// TestServerTooLargeUploadGets413: a large upload refused with 413 before it
// was read reaches the client whole, not as a connection reset: the server
// stops writing and drops what still comes before it closes.
func TestServerTooLargeUploadGets413(t *testing.T) {
	tr := twoColors(t, Options{MaxRequestBody: 1 << 20})
	c := newClient(t)
	for i := range 10 {
		resp, err := c.Post("http://"+tr.pub+"/upload", "application/octet-stream", bytes.NewReader(make([]byte, 16<<20)))
		if err != nil {
			t.Fatalf("upload %d: %v (the 413 was lost)", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("upload %d: %d, want 413", i+1, resp.StatusCode)
		}
	}
}

// TestServerRefusesConflictingFraming: a request with Transfer-Encoding and
// Content-Length, or with Transfer-Encoding in HTTP/1.0, is answered 400 and
// the connection closed: net/http would forward it (its Content-Length
// dropped, or the HTTP/1.0 Transfer-Encoding ignored and the body read as
// the next request) and keep the connection, which two parsers may frame
// differently (request smuggling). Nothing reaches the handler.
func TestServerRefusesConflictingFraming(t *testing.T) {
	var seen atomic.Int64
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		echoInfo(w, r)
	}), false)
	for name, raw := range map[string]string{
		"length and chunked": "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
			"GET /second HTTP/1.1\r\nHost: h\r\n\r\n",
		"chunked in HTTP/1.0": "POST /b HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			res, body, br := sendRaw(t, ts.addr, raw)
			if res.StatusCode != http.StatusBadRequest || !res.Close || !strings.Contains(body, "framing") {
				t.Fatalf("answered %d (close %v) %q, want 400 and the connection closed", res.StatusCode, res.Close, body)
			}
			if _, err := http.ParseTime(res.Header.Get("Date")); err != nil {
				t.Errorf("the 400 has Date %q (%v), want the router's own answers dated", res.Header.Get("Date"), err)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the 400: %q, %v; want the connection closed with nothing more", rest, err)
			}
		})
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the handler saw %d requests, want none", n)
	}
}
