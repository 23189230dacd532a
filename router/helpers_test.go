package router

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// colorHandler answers with the backend's name in the body and in
// X-Backend, so a test can compare it with the router's color header.
func colorHandler(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	}
}

// newBackend starts a real HTTP server on 127.0.0.1 and returns its address.
func newBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// server is what serve needs: an *http.Server or a router Server.
type server interface {
	Serve(net.Listener) error
	Close() error
}

// serve runs srv on a fresh 127.0.0.1 port and returns the address.
func serve(t *testing.T, srv server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// testRouter is a router with both listeners running.
type testRouter struct {
	*Router
	pub, prev string       // host:port of the public and preview listeners
	newConns  atomic.Int64 // client connections accepted by the public listener
	closed    atomic.Int64 // public client connections closed (by either side)
}

// goroutinePath is set by TestMain for its second run of the tests: the
// routers of startRouter then serve with a goroutine per connection
// instead of the event loop (where the platform has one).
var goroutinePath = !loopAvailable

// fuzzing reports whether this run fuzzes (go test -fuzz), which the
// second pass of TestMain would only do again.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// TestMain runs the package's tests twice where the event loop exists:
// with it (serve's default) and on the goroutine path.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && loopAvailable && !fuzzing() {
		fmt.Println("=== the same tests again, with a goroutine per connection instead of the event loop")
		goroutinePath = true
		code = m.Run()
	}
	os.Exit(code)
}

func startRouter(t *testing.T, opts Options, live bluegreen.Color, ups map[bluegreen.Color][]string) *testRouter {
	t.Helper()
	opts.EventLoop = !goroutinePath
	rt, err := New(opts, live, ups)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	tr := &testRouter{}
	pub := rt.NewServer(rt.Public())
	pub.ConnState = countConns(&tr.newConns, &tr.closed)
	tr.Router = rt
	tr.pub = serve(t, pub)
	tr.prev = serve(t, rt.NewServer(rt.Preview()))
	return tr
}

// countConns is a ConnState hook counting accepted connections in news and
// ended ones (closed or hijacked) in closes.
func countConns(news, closes *atomic.Int64) func(net.Conn, http.ConnState) {
	return func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			news.Add(1)
		case http.StateClosed, http.StateHijacked:
			closes.Add(1)
		}
	}
}

// twoColors starts one backend per color answering with the color name
// and a router in front of them, blue live.
func twoColors(t *testing.T, opts Options) *testRouter {
	t.Helper()
	return startRouter(t, opts, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue:  {newBackend(t, colorHandler("blue"))},
		bluegreen.Green: {newBackend(t, colorHandler("green"))},
	})
}

// newClient returns a keep-alive client with its own connection pool.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// get does a GET and returns status, router color header and body.
func get(t *testing.T, c *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get(headerColor), string(b)
}

// recv receives from ch or fails the test after within.
func recv[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
	panic("unreachable")
}

// send sends on ch or fails the test after 10 s.
func send(t *testing.T, ch chan<- struct{}) {
	t.Helper()
	select {
	case ch <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out sending to the backend")
	}
}

// rawConn dials addr and returns the connection with a reader on it; every
// read and write must finish within 10 s.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// resetClose closes conn with a reset (SO_LINGER 0) instead of an end of
// stream: a client gone, where a plain close is a half-close.
func resetClose(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// readHead reads a status line and headers up to the blank line and
// returns them as one string.
// sendRaw writes raw on a new connection to addr and reads one response
// and its body; br reads what comes after.
func sendRaw(t *testing.T, addr, raw string) (res *http.Response, body string, br *bufio.Reader) {
	t.Helper()
	conn, br := rawConn(t, addr)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return res, string(b), br
}

func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response head: %v (so far %q)", err, sb.String())
		}
		sb.WriteString(line)
		if line == "\r\n" {
			return sb.String()
		}
	}
}

// deadAddr returns a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// publicGen returns the live generation's in-flight count.
func (tr *testRouter) liveInFlight() int64 { return tr.table.Load().public.inFlight() }

func isClosedErr(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "closed"))
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newBackendB and serveB are the benchmark versions of newBackend and serve.
func newBackendB(b *testing.B) string {
	s := httptest.NewServer(http.HandlerFunc(helloBackend))
	b.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func serveB(b *testing.B, srv server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
