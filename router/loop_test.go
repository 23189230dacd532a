package router

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestLoopServes: startRouter's routers serve on the event loop in the
// first run of the tests and never in the second (TestMain).
func TestLoopServes(t *testing.T) {
	tr := twoColors(t, Options{})
	c := newClient(t)
	for range 3 {
		if status, _, body := get(t, c, "http://"+tr.pub+"/"); status != 200 || body != "blue" {
			t.Fatalf("got %d %q", status, body)
		}
	}
	n := tr.loopServed()
	if goroutinePath && n != 0 {
		t.Fatalf("the event loop served %d requests on the goroutine path", n)
	}
	if !goroutinePath && n != 3 {
		t.Fatalf("the event loop served %d requests, want 3", n)
	}
}

// TestLoopReusesExchanges: requests one after another on a kept-alive
// connection reuse the loop's exchanges and calls. Only the first few are
// allocated: one whose call was a dial's context is not reused, and the
// second has nothing to reuse yet.
func TestLoopReusesExchanges(t *testing.T) {
	tr, _ := requestsInARow(t, 100)
	var made int64
	tr.eachLoop(func(l *evloop) { made += l.made.Load() })
	if made < 1 || made > 10 {
		t.Fatalf("the loop allocated %d exchanges for 100 requests in a row, want 1 to 10", made)
	}
}

// requestsInARow sends n GETs one after another on one kept-alive
// connection to a router on the event loop (the test is skipped on the
// goroutine path, which has no exchanges), checking each answer.
func requestsInARow(t *testing.T, n int) (*testRouter, *http.Client) {
	t.Helper()
	if goroutinePath {
		t.Skip("the goroutine path has no exchanges")
	}
	tr := twoColors(t, Options{})
	c := newClient(t)
	for range n {
		if status, _, body := get(t, c, "http://"+tr.pub+"/"); status != 200 || body != "blue" {
			t.Fatalf("got %d %q", status, body)
		}
	}
	return tr, c
}

// loopServed is how many requests the router's event loops started.
func (rt *Router) loopServed() int64 {
	var n int64
	rt.eachLoop(func(l *evloop) { n += l.served.Load() })
	return n
}

// readResponse reads one response and its whole body from br.
func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading a body: %v", err)
	}
	return res, string(b)
}

// TestLoopPipelined: requests sent back to back in one write, one of them
// the color path, are answered in order on the same connection.
func TestLoopPipelined(t *testing.T) {
	tr := twoColors(t, Options{})
	conn, br := rawConn(t, tr.pub)
	io.WriteString(conn, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /deployment/color/ HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
		"HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n")
	want := []struct{ method, body string }{{"GET", "blue"}, {"GET", `{"color":"blue"}`}, {"POST", "blue"}, {"HEAD", ""}}
	for i, w := range want {
		res, body := readResponse(t, br, w.method)
		if res.StatusCode != 200 || body != w.body {
			t.Fatalf("response %d: %d %q, want 200 %q", i, res.StatusCode, body, w.body)
		}
	}
}

// TestLoopHandOffMidConnection: a kept-alive connection whose next
// request the loop does not take (a chunked body) moves to the goroutine
// path with what was read, and goes on serving; it is one connection for
// ConnState throughout.
func TestLoopHandOffMidConnection(t *testing.T) {
	tr := twoColors(t, Options{})
	conn, br := rawConn(t, tr.pub)
	io.WriteString(conn, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := readResponse(t, br, "GET"); res.StatusCode != 200 || body != "blue" {
		t.Fatalf("first: %d %q", res.StatusCode, body)
	}
	io.WriteString(conn, "POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
		"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	for i := range 2 {
		if res, body := readResponse(t, br, "GET"); res.StatusCode != 200 || body != "blue" {
			t.Fatalf("after the hand-off, %d: %d %q", i, res.StatusCode, body)
		}
	}
	if n := tr.newConns.Load(); n != 1 {
		t.Fatalf("ConnState saw %d new connections, want 1", n)
	}
	conn.Close()
	testenv.WaitFor(t, 5*time.Second, "the connection reported closed once", func() bool { return tr.closed.Load() == 1 })
}

// TestLoopUploadAndDownload: large bodies both ways, several at once,
// arrive whole (the loop's buffers fill and drain on both sides).
func TestLoopUploadAndDownload(t *testing.T) {
	echo := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {echo}})
	c := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, (1<<20)+i*4099)
			rand.Read(body)
			resp, err := c.Post("http://"+tr.pub+"/", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, body) {
				errs <- "status " + resp.Status + ", " + strconv.Itoa(len(got)) + " of " + strconv.Itoa(len(body)) + " bytes back"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// rawBackend serves each connection with f.
func rawBackend(t *testing.T, f func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				f(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequestHead reads up to the blank line of a request head.
func readRequestHead(conn net.Conn) error {
	var got []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(got, []byte("\r\n\r\n")) {
		if _, err := conn.Read(b); err != nil {
			return err
		}
		got = append(got, b[0])
	}
	return nil
}

// TestLoopResponseInPieces: a response head written a byte at a time,
// after an informational 103, and a chunked body with a trailer in small
// writes, reach the client whole; hop-by-hop headers do not.
func TestLoopResponseInPieces(t *testing.T) {
	const resp = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nKeep-Alive: timeout=5\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n"
	up := rawBackend(t, func(conn net.Conn) {
		for {
			if readRequestHead(conn) != nil {
				return
			}
			for i := range len(resp) {
				if _, err := conn.Write([]byte{resp[i]}); err != nil {
					return
				}
			}
		}
	})
	tr := startRouter(t, Options{ColorHeader: true}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	conn, br := rawConn(t, tr.pub)
	for i := range 2 { // the second on the same connections, both sides
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		head := readHead(t, br)
		if !strings.HasPrefix(head, "HTTP/1.1 103 ") || !strings.Contains(head, "Link: </a.css>; rel=preload\r\n") {
			t.Fatalf("request %d: the informational response came as %q", i, head)
		}
		res, body := readResponse(t, br, "GET")
		if res.StatusCode != 200 || body != "hello, world" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
		if got := res.Trailer.Get("X-Sum"); got != "12" {
			t.Fatalf("request %d: trailer X-Sum %q, want 12", i, got)
		}
		if res.Header.Get("Keep-Alive") != "" || res.Header.Get("X-Bluegreen-Color") != "blue" {
			t.Fatalf("request %d: headers %v", i, res.Header)
		}
	}
}

// slowServer serves the public handler, on the data path under test, in
// front of a backend that answers "done", except that its /slow waits for
// unblock; started receives when a /slow request has reached it.
func slowServer(t *testing.T) (srv *Server, addr string, started <-chan struct{}, unblock func()) {
	t.Helper()
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock = func() { releaseOnce.Do(func() { close(release) }) }
	reached := make(chan struct{}, 1)
	up := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			reached <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	}))
	t.Cleanup(unblock) // before the backend's Close, which waits for its handlers
	rt, err := New(Options{EventLoop: !goroutinePath}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	srv = rt.NewServer(rt.Public())
	return srv, serve(t, srv), reached, unblock
}

// TestLoopShutdown: Shutdown closes the idle connections at once, lets a
// request in flight finish (its answer says "Connection: close"), then
// returns.
func TestLoopShutdown(t *testing.T) {
	srv, addr, started, unblock := slowServer(t)

	idle, idleBR := rawConn(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := readResponse(t, idleBR, "GET"); res.StatusCode != 200 || body != "done" {
		t.Fatalf("idle connection's request: %d %q", res.StatusCode, body)
	}
	busy, busyBR := rawConn(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, started, 5*time.Second, "the slow request at the backend")

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctxT(t, 10*time.Second)) }()
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("the idle connection: read %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	unblock()
	if res, body := readResponse(t, busyBR, "GET"); res.StatusCode != 200 || body != "done" || !res.Close {
		t.Fatalf("the request in flight: %d %q, Connection: close announced %v", res.StatusCode, body, res.Close)
	}
	if err := recv(t, shut, 10*time.Second, "Shutdown's return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := busyBR.ReadByte(); err != io.EOF {
		t.Fatalf("the busy connection after its request: read %v, want EOF", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("the listener still accepts after Shutdown")
	}
}

// TestLoopUntilCloseBodyReset: an upstream that resets the connection in
// the middle of a body delimited by its close does not make a complete
// response for the client: the client sees the body break off.
func TestLoopUntilCloseBodyReset(t *testing.T) {
	reset := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(reset) }) })
	up := rawBackend(t, func(conn net.Conn) {
		if readRequestHead(conn) != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello")
		<-reset
		conn.(*net.TCPConn).SetLinger(0) // Close sends a reset
	})
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	conn, br := rawConn(t, tr.pub)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != "hello" {
		t.Fatalf("the body's first bytes: %q, %v", first, err)
	}
	once.Do(func() { close(reset) })
	if rest, err := io.ReadAll(res.Body); err == nil {
		t.Fatalf("a body cut by a reset reached the client as complete (%q, then %q)", first, rest)
	}
}

// TestLoopNoRetryAfterAnAnswer: a request whose reused upstream connection
// answered a 103 and then closed is not sent again (the upstream had it).
func TestLoopNoRetryAfterAnAnswer(t *testing.T) {
	var conns, reqs atomic.Int32
	up := rawBackend(t, func(conn net.Conn) {
		n := conns.Add(1)
		for i := 0; ; i++ {
			if readRequestHead(conn) != nil {
				return
			}
			reqs.Add(1)
			if n == 1 && i == 1 {
				io.WriteString(conn, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
				return // and close
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	conn, br := rawConn(t, tr.pub)
	io.WriteString(conn, "DELETE /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := readResponse(t, br, "DELETE"); res.StatusCode != 200 || body != "ok" {
		t.Fatalf("first: %d %q", res.StatusCode, body)
	}
	io.WriteString(conn, "DELETE /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	if head := readHead(t, br); !strings.HasPrefix(head, "HTTP/1.1 103 ") {
		t.Fatalf("second: %q, want the 103 first", head)
	}
	if res, _ := readResponse(t, br, "DELETE"); res.StatusCode != http.StatusBadGateway {
		t.Fatalf("second: %d after the 103, want 502", res.StatusCode)
	}
	if n := reqs.Load(); n != 2 {
		t.Fatalf("the upstream saw %d requests, want 2", n)
	}
}

// TestLoopStopRunsWhatWasPosted: what reaches the loop while Close is
// closing its connections still runs: a connection accepted then is
// closed and reported closed, not leaked.
func TestLoopStopRunsWhatWasPosted(t *testing.T) {
	if goroutinePath {
		t.Skip("the event loop's own stop")
	}
	rt, err := New(Options{EventLoop: true, EventLoops: 1}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, colorHandler("blue"))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	srv := rt.NewServer(rt.Public())
	inClose, resume := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	var late atomic.Value // the connection accepted during Close
	lateClosed := make(chan struct{})
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if st != http.StateClosed {
			return
		}
		if id := late.Load(); id != nil && c == id.(net.Conn) {
			close(lateClosed)
			return
		}
		if first.CompareAndSwap(false, true) {
			close(inClose)
			<-resume // hold the loop inside closeAll
		}
	}
	addr := serve(t, srv)
	early, earlyBR := rawConn(t, addr)
	io.WriteString(early, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponse(t, earlyBR, "GET")

	// A connection as Serve would hand it over, accepted just before Close.
	side, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	client, err := net.Dial("tcp", side.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	nc, err := side.Accept()
	if err != nil {
		t.Fatal(err)
	}
	late.Store(nc)
	if !srv.trackLoop() {
		t.Fatal("the server is already down")
	}
	srv.mu.Lock()
	l := srv.loops[0]
	srv.mu.Unlock()

	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	recv(t, inClose, 5*time.Second, "Close closing the first connection")
	l.accept(nc)
	close(resume)
	recv(t, closed, 5*time.Second, "Close's return")
	recv(t, lateClosed, 5*time.Second, "the late connection reported closed")
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the late connection: read %v, want EOF", err)
	}
	srv.mu.Lock()
	n := srv.loopConns
	srv.mu.Unlock()
	if n != 0 {
		t.Fatalf("loopConns = %d after Close, want 0", n)
	}
}

// TestServerRetire: Retire stops accepting and keeps each connection until
// it can end where its client is told: a connection that was idle is served
// once more, with "Connection: close", and then closed; a request in flight
// finishes the same way; an idle connection that sends nothing stays open
// (closing it could race the client's next request); Retire returns its
// ctx's error while one is left, and Close ends it.
func TestServerRetire(t *testing.T) {
	srv, addr, started, unblock := slowServer(t)

	// [0] is served again after Retire, [1] never is; [2] is an HTTP/1.0
	// keep-alive connection, which net/http serves.
	reqs := []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"}
	var conns []net.Conn
	var brs []*bufio.Reader
	for i, req := range reqs {
		c, br := rawConn(t, addr)
		io.WriteString(c, req)
		if res, body := readResponse(t, br, "GET"); res.StatusCode != 200 || body != "done" || res.Close {
			t.Fatalf("connection %d before Retire: %d %q, close %v", i, res.StatusCode, body, res.Close)
		}
		conns, brs = append(conns, c), append(brs, br)
	}
	busy, busyBR := rawConn(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, started, 5*time.Second, "the slow request at the backend")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	retired := make(chan error, 1)
	go func() { retired <- srv.Retire(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the listener to stop accepting", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})

	// The idle connection still carries requests; once the retirement has
	// reached its loop (at once on the goroutine path), the answer says
	// "Connection: close" and the connection ends after it.
	for i := 0; ; i++ {
		io.WriteString(conns[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res, body := readResponse(t, brs[0], "GET")
		if res.StatusCode != 200 || body != "done" {
			t.Fatalf("request %d after Retire: %d %q", i, res.StatusCode, body)
		}
		if res.Close {
			break
		}
		if i == 1000 {
			t.Fatal("no answer after Retire said Connection: close")
		}
	}
	if _, err := brs[0].ReadByte(); err != io.EOF {
		t.Fatalf("after the answer that said close: read %v, want EOF", err)
	}
	// So does the one net/http serves, which was not cut either.
	io.WriteString(conns[2], reqs[2])
	if res, body := readResponse(t, brs[2], "GET"); res.StatusCode != 200 || body != "done" || !res.Close {
		t.Fatalf("the HTTP/1.0 connection after Retire: %d %q, close %v", res.StatusCode, body, res.Close)
	}
	if _, err := brs[2].ReadByte(); err != io.EOF {
		t.Fatalf("the HTTP/1.0 connection after its answer: read %v, want EOF", err)
	}

	unblock()
	if res, body := readResponse(t, busyBR, "GET"); res.StatusCode != 200 || body != "done" || !res.Close {
		t.Fatalf("the request in flight: %d %q, Connection: close announced %v", res.StatusCode, body, res.Close)
	}
	if _, err := busyBR.ReadByte(); err != io.EOF {
		t.Fatalf("the busy connection after its request: read %v, want EOF", err)
	}

	// The connection that sends nothing is left open, and Retire waits.
	_ = conns[1].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := brs[1].ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the idle connection during Retire: read %v, want it open and silent", err)
	}
	select {
	case err := <-retired:
		t.Fatalf("Retire returned %v with a connection open", err)
	default:
	}
	cancel()
	if err := recv(t, retired, 5*time.Second, "Retire's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Retire with its ctx canceled: %v", err)
	}
	srv.Close()
	_ = conns[1].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := brs[1].ReadByte(); err != io.EOF {
		t.Fatalf("the idle connection after Close: read %v, want EOF", err)
	}
}
