package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// faultBackend answers /boom with a 500, holds /wait until the router
// cancels it, and reads and answers anything else.
func faultBackend(arrived chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			w.WriteHeader(http.StatusInternalServerError)
		case "/wait":
			arrived <- struct{}{}
			<-r.Context().Done()
		default:
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}
	}
}

// bigHeader is a header line that takes a head past the router's own
// reader's buffer, so net/http reads it.
var bigHeader = "X-Pad: " + strings.Repeat("p", 5000) + "\r\n"

// TestRouterAnswersDoNotCountAgainstTheColor: answers the router makes
// itself because of the client (501 for CONNECT, 413, 400 for a broken
// body, 408 for a slow one, a client that left before the answer) are
// counted as ClientErrors only: never in the color's requests, status
// classes or latency, so that no client can fail a post-switch watch (25
// anonymous CONNECTs used to roll a switch back) or dilute its figures.
// The app's own 500 still counts. On every data path, with small and big
// heads.
func TestRouterAnswersDoNotCountAgainstTheColor(t *testing.T) {
	for _, std := range []bool{false, true} {
		name := "own server"
		if std {
			name = "net/http"
		}
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			tr := startRouter(t, Options{NetHTTPServer: std, ReverseProxyOnly: std, MaxRequestBody: 1024, BodyTimeout: 300 * time.Millisecond},
				bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, faultBackend(arrived))}})

			cases := []struct {
				name, raw string
				want      int
			}{
				{"CONNECT", "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", 501},
				{"CONNECT big head", "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n" + bigHeader + "\r\n", 501},
				{"Content-Length over the limit", "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n", 413},
				{"chunked over the limit", fmt.Sprintf("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n%s\r\n0\r\n\r\n", strings.Repeat("a", 2048)), 413},
				{"bad chunk size", "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
				{"bad chunk size big head", "POST /up HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
				{"slow body", "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", 408},
			}
			for _, tc := range cases {
				res, _, _ := sendRaw(t, tr.pub, tc.raw)
				if res.StatusCode != tc.want {
					t.Fatalf("%s: answered %d, want %d", tc.name, res.StatusCode, tc.want)
				}
			}
			// A client that leaves while the app thinks.
			conn, _ := rawConn(t, tr.pub)
			if _, err := io.WriteString(conn, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			recv(t, arrived, 5*time.Second, "the request to reach the app")
			resetClose(t, conn)

			want := int64(len(cases) + 1)
			testenv.WaitFor(t, 5*time.Second, fmt.Sprintf("%d client errors", want), func() bool {
				s := tr.Stats()[bluegreen.Blue]
				return s.ClientErrors == want && s.InFlight == 0
			})
			s := tr.Stats()[bluegreen.Blue]
			if s.Requests != 0 || s.Status != [5]int64{} || s.Latency.Count != 0 || s.UpstreamErrors != 0 {
				t.Fatalf("stats %+v: the router's own answers to the client counted as the color's", s)
			}

			// The app's own answers count.
			if res, _, _ := sendRaw(t, tr.pub, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"); res.StatusCode != 500 {
				t.Fatalf("/boom answered %d", res.StatusCode)
			}
			testenv.WaitFor(t, 5*time.Second, "the app's 500 to be counted", func() bool {
				s := tr.Stats()[bluegreen.Blue]
				return s.Requests == 1 && s.Status[4] == 1 && s.Latency.Count == 1 && s.ClientErrors == want
			})
		})
	}
}

// TestConnectionCap: at SetMaxConnections' cap the server stops accepting
// (clients wait in the listen backlog), keeps serving the connections it
// holds, and accepts again when one ends.
func TestConnectionCap(t *testing.T) {
	rt, err := New(Options{EventLoop: !goroutinePath}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue: {newBackend(t, colorHandler("blue"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	var news, closes atomic.Int64
	srv := rt.NewServer(rt.Public())
	srv.ConnState = countConns(&news, &closes)
	srv.SetMaxConnections(3)
	addr := serve(t, srv)

	// A kept-alive client, then a flood of idle sockets.
	kept, keptR := rawConn(t, addr)
	ask := func(c net.Conn, br *bufio.Reader) int {
		t.Helper()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	if code := ask(kept, keptR); code != 200 {
		t.Fatalf("kept-alive client: %d", code)
	}
	var flood []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
	}
	testenv.WaitFor(t, 5*time.Second, "the server to reach its cap", func() bool { return srv.capped.Load() })
	if n := news.Load(); n != 3 {
		t.Fatalf("%d connections accepted at a cap of 3", n)
	}
	// The connections held are still served.
	if code := ask(kept, keptR); code != 200 {
		t.Fatalf("kept-alive client at the cap: %d", code)
	}
	// One that ends lets the next one in, which is then served.
	kept.Close()
	late, lateR := rawConn(t, addr)
	for _, c := range flood {
		c.Close()
	}
	if code := ask(late, lateR); code != 200 {
		t.Fatalf("a client after the flood: %d", code)
	}
	testenv.WaitFor(t, 5*time.Second, "the cap to clear", func() bool { return !srv.capped.Load() })
}

// TestInvalidStatusFromTheAppIs502: an app's status outside 100-599 is not
// passed on (net/http's writer panics on some, clients misread others):
// the router answers 502 and counts it as the color's upstream error.
func TestInvalidStatusFromTheAppIs502(t *testing.T) {
	for _, std := range []bool{false, true} {
		for _, status := range []string{"999 Odd", "600 Beyond", "099 Low", "000 Zero"} {
			t.Run(fmt.Sprintf("net/http=%v %s", std, status), func(t *testing.T) {
				up := rawBackend(t, func(c net.Conn) {
					if readRequestHead(c) == nil {
						io.WriteString(c, "HTTP/1.1 "+status+"\r\nContent-Length: 2\r\n\r\nhi")
					}
				})
				tr := startRouter(t, Options{NetHTTPServer: std, ReverseProxyOnly: std}, bluegreen.Blue,
					map[bluegreen.Color][]string{bluegreen.Blue: {up}})
				res, _, _ := sendRaw(t, tr.pub, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if res.StatusCode != http.StatusBadGateway {
					t.Fatalf("answered %d, want 502", res.StatusCode)
				}
				testenv.WaitFor(t, 5*time.Second, "the 502 to be counted", func() bool {
					s := tr.Stats()[bluegreen.Blue]
					return s.UpstreamErrors == 1 && s.Status[4] == 1
				})
			})
		}
	}
}

// stuckListener returns the address of a socket that listens with a
// backlog of 0 and never accepts, its queue filled: a connect to it gets
// no answer (the kernel drops the SYN), as from an upstream host that is
// down.
func stuckListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue until a connect no longer completes.
	for i := 0; i < 16; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel kept accepting connections to a listener with a full queue")
	return ""
}

// TestConnectTimeout: an upstream whose connect never completes is given
// up at Options.ConnectTimeout, answered 502 and counted as the color's
// upstream error, on every path (the event loop connects on its own
// thread now, and its own sweep ends the wait).
func TestConnectTimeout(t *testing.T) {
	up := stuckListener(t)
	tr := startRouter(t, Options{ConnectTimeout: 300 * time.Millisecond}, bluegreen.Blue,
		map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	res, _, _ := sendRaw(t, tr.pub, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("answered %d, want 502", res.StatusCode)
	}
	testenv.WaitFor(t, 5*time.Second, "the 502 to be counted", func() bool {
		s := tr.Stats()[bluegreen.Blue]
		return s.UpstreamErrors == 1 && s.InFlight == 0
	})
}
