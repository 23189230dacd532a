package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/coder/websocket"
)

// wsEcho is a WebSocket backend that echoes text messages prefixed with
// its name.
func wsEcho(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			colorHandler(name)(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte(name+":"), msg...)); err != nil {
				return
			}
		}
	})
}

// TestWebSocketAcrossSwitch opens a WebSocket to blue, switches to green,
// and checks that it still echoes until the drain deadline, is closed
// then, and is reported as cancelled.
func TestWebSocketAcrossSwitch(t *testing.T) {
	tr := startRouter(t, Options{ColorHeader: true}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue:  {newBackend(t, wsEcho("blue"))},
		bluegreen.Green: {newBackend(t, wsEcho("green"))},
	})
	ctx := ctxT(t, 30*time.Second)
	ws, resp, err := websocket.Dial(ctx, "ws://"+tr.pub+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if got := resp.Header.Get(headerColor); got != "blue" {
		t.Fatalf("upgrade response color header %q, want blue", got)
	}
	echo := func(msg string) (string, error) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			return "", err
		}
		_, b, err := ws.Read(ctx)
		return string(b), err
	}
	if got, err := echo("before"); err != nil || got != "blue:before" {
		t.Fatalf("echo before switch: %q %v", got, err)
	}

	d := tr.Switch(bluegreen.Green)
	const deadline = 3 * time.Second
	results := make(chan DrainResult, 1)
	go func() { results <- d.Wait(context.Background(), deadline) }()

	if _, color, _ := get(t, newClient(t), "http://"+tr.pub+"/"); color != "green" {
		t.Fatalf("new request after switch went to %q", color)
	}
	for i := range 3 {
		msg := fmt.Sprintf("after-%d", i)
		if got, err := echo(msg); err != nil || got != "blue:"+msg {
			t.Fatalf("echo after switch: %q %v", got, err)
		}
	}
	select {
	case res := <-results:
		t.Fatalf("drain ended while the WebSocket was open: %+v", res)
	default:
	}
	res := recv(t, results, 20*time.Second, "the drain deadline")
	if res.InFlightAtSwap != 1 || res.Cancelled != 1 || res.Finished != 0 {
		t.Fatalf("drain %+v: want the WebSocket in flight and cancelled", res)
	}
	if res.Duration < deadline {
		t.Fatalf("drain ended after %v, before the %v deadline", res.Duration, deadline)
	}
	// The router closed the connection: the next read fails.
	if _, _, err := ws.Read(ctx); err == nil {
		t.Fatal("WebSocket still open after the drain deadline")
	}
	testenv.WaitFor(t, 5*time.Second, "blue in-flight to reach 0", func() bool {
		return tr.Stats()[bluegreen.Blue].InFlight == 0 && d.InFlight() == 0
	})
	if s := tr.Stats()[bluegreen.Blue]; s.Status[0] < 1 {
		t.Fatalf("101 not counted as 1xx: %+v", s)
	}
}

// TestSSEAcrossSwitch streams server-sent events: each event reaches the
// client before the backend writes the next one, and the stream keeps
// flowing across a switch until it ends on its own.
func TestSSEAcrossSwitch(t *testing.T) {
	next := make(chan struct{})
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			colorHandler("blue")(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 5 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: event-%d\n\n", i)
			rc.Flush()
		}
	})
	tr := startRouter(t, Options{ColorHeader: true}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue:  {newBackend(t, sse)},
		bluegreen.Green: {newBackend(t, colorHandler("green"))},
	})
	resp, err := newClient(t).Get("http://" + tr.pub + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	readEvent := func(i int) {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			blank, _ := br.ReadString('\n')
			got <- line + blank
		}()
		if ev := recv(t, got, 10*time.Second, fmt.Sprintf("event %d", i)); ev != fmt.Sprintf("data: event-%d\n\n", i) {
			t.Fatalf("event %d = %q", i, ev)
		}
	}
	readEvent(0)
	send(t, next)
	readEvent(1)

	d := tr.Switch(bluegreen.Green)
	if _, color, _ := get(t, newClient(t), "http://"+tr.pub+"/"); color != "green" {
		t.Fatalf("new request after switch went to %q", color)
	}
	for i := 2; i < 5; i++ {
		send(t, next)
		readEvent(i)
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q %v", rest, err)
	}
	res := d.Wait(context.Background(), 10*time.Second)
	if res.InFlightAtSwap != 1 || res.Finished != 1 || res.Cancelled != 0 {
		t.Fatalf("drain %+v: want the stream finished", res)
	}
}

// TestLargeResponseStreams sends 64 MiB through the router and checks that
// the client gets the first bytes while the backend is blocked mid-body, so
// the router cannot be buffering the whole response.
func TestLargeResponseStreams(t *testing.T) {
	const (
		total = 64 << 20
		chunk = 1 << 20
	)
	resume := make(chan struct{})
	big := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(total))
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = byte(i)
		}
		for sent := 0; sent < total; sent += chunk {
			if sent == chunk {
				select { // blocked mid-body until the client has the first bytes
				case <-resume:
				case <-r.Context().Done():
					return
				}
			}
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue: {newBackend(t, big)},
	})
	resp, err := newClient(t).Get("http://" + tr.pub + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make(chan error, 1)
	head := make([]byte, 64<<10)
	go func() { _, err := io.ReadFull(resp.Body, head); first <- err }()
	if err := recv(t, first, 10*time.Second, "the first bytes while the backend is blocked"); err != nil {
		t.Fatal(err)
	}
	for i, b := range head {
		if b != byte(i) {
			t.Fatalf("byte %d = %d", i, b)
		}
	}
	close(resume)
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || int(n)+len(head) != total {
		t.Fatalf("read %d more bytes (%v), want %d in all", n, err, total)
	}
}

// TestClientDisconnectReleases checks that a client going away in the
// middle of a streamed response does not leak the in-flight count, and
// that the upstream request is cancelled.
func TestClientDisconnectReleases(t *testing.T) {
	backendDone := make(chan struct{})
	endless := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(backendDone)
		rc := http.NewResponseController(w)
		for {
			if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
				return
			}
			rc.Flush()
			select {
			case <-r.Context().Done():
				return
			default:
			}
		}
	})
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue: {newBackend(t, endless)},
	})
	resp, err := newClient(t).Get("http://" + tr.pub + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if n := tr.liveInFlight(); n != 1 {
		t.Fatalf("in flight during the stream = %d, want 1", n)
	}
	resp.Body.Close() // closes the connection: the response was not read to its end
	recv(t, backendDone, 10*time.Second, "the upstream request to be cancelled")
	testenv.WaitFor(t, 5*time.Second, "in-flight counters to return to 0", func() bool {
		return tr.liveInFlight() == 0 && tr.Stats()[bluegreen.Blue].InFlight == 0
	})
}

// TestClientGoneBeforeTheAnswer: a client that hangs up (a reset) while
// the upstream is still thinking cancels the upstream request (the router
// closes its connection, so the backend's request context ends), and the
// request is counted as a client error (499, as nginx logs it), not as the
// color's, on both data paths: the router's own server, where the
// client-gone watch cancels the call it registered, and net/http's, whose
// request context the call follows. (A plain close is a half-close, which
// gets its answer: TestHalfClosedClientGetsItsAnswer.)
func TestClientGoneBeforeTheAnswer(t *testing.T) {
	for _, std := range []bool{false, true} {
		name := "fast"
		if std {
			name = "net/http"
		}
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			cancelled := make(chan struct{}, 1)
			never := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-r.Context().Done() // never answers on its own
				cancelled <- struct{}{}
			})
			tr := startRouter(t, Options{NetHTTPServer: std}, bluegreen.Blue, map[bluegreen.Color][]string{
				bluegreen.Blue: {newBackend(t, never)},
			})
			conn, _ := rawConn(t, tr.pub)
			if _, err := io.WriteString(conn, "GET /wait HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			recv(t, arrived, 5*time.Second, "the request to reach the backend")
			resetClose(t, conn)
			recv(t, cancelled, 10*time.Second, "the upstream request to be cancelled")
			testenv.WaitFor(t, 5*time.Second, "the request to be counted as a client error", func() bool {
				s := tr.Stats()[bluegreen.Blue]
				return s.InFlight == 0 && s.ClientErrors == 1 && s.Requests == 0 && s.UpstreamErrors == 0
			})
		})
	}
}

// halfCloseWait is how long slowApp thinks: longer than any data path
// takes to notice a client's end of stream (the goroutine path's watch
// starts after clientGoneAfter), so that a path that took a half-close for
// a client gone would cancel the request before the answer.
const halfCloseWait = 5 * clientGoneAfter

// slowApp reads its request, reports it on arrived, and answers "answer"
// after halfCloseWait; if the request is cancelled before (the router
// dropped the exchange), it reports that on cancelled and answers nothing.
func slowApp(arrived, cancelled chan<- string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- r.URL.Path
		select {
		case <-r.Context().Done():
			cancelled <- r.URL.Path
			return
		case <-time.After(halfCloseWait):
		}
		io.WriteString(w, "answer")
	}
}

// TestHalfClosedClientGetsItsAnswer: a client that ends its side of the
// connection after its whole request (shutdown(SHUT_WR), nc -N) gets the
// answer, then the connection closes, as haproxy does; the app's request
// is not cancelled and counts as the color's, not as a client error. On
// every data path: the event loop or the goroutine path (TestMain), with
// and without a body, pipelined requests, and net/http's path (a big head,
// HTTP/1.0, Options.NetHTTPServer). A plain close looks the same to the
// router (a FIN): the app is not cancelled and its answer is written.
func TestHalfClosedClientGetsItsAnswer(t *testing.T) {
	cases := []struct {
		name   string
		std    bool // Options.NetHTTPServer
		raw    string
		paths  []string // the requests' paths, in order
		method string
	}{
		{"small head", false, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", []string{"/a"}, "GET"},
		{"with a body", false, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", []string{"/a"}, "POST"},
		{"pipelined", false, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", []string{"/a", "/b"}, "GET"},
		{"big head", false, "GET /a HTTP/1.1\r\nHost: x\r\n" + bigHeader + "\r\n", []string{"/a"}, "GET"},
		{"big head with a body", false, "POST /a HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Content-Length: 5\r\n\r\nhello", []string{"/a"}, "POST"},
		{"HTTP/1.0", false, "GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", []string{"/a"}, "GET"},
		{"net/http", true, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", []string{"/a"}, "GET"},
		{"net/http with a body", true, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", []string{"/a"}, "POST"},
		{"net/http pipelined", true, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", []string{"/a", "/b"}, "GET"},
	}
	for _, tc := range cases {
		for _, how := range []string{"CloseWrite", "Close"} {
			if how == "Close" && len(tc.paths) > 1 {
				// The answer to the first meets a reset, which rightly
				// cancels the second.
				continue
			}
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				arrived := make(chan string, len(tc.paths))
				cancelled := make(chan string, len(tc.paths))
				tr := startRouter(t, Options{NetHTTPServer: tc.std}, bluegreen.Blue, map[bluegreen.Color][]string{
					bluegreen.Blue: {newBackend(t, slowApp(arrived, cancelled))},
				})
				conn, br := rawConn(t, tr.pub)
				if _, err := io.WriteString(conn, tc.raw); err != nil {
					t.Fatal(err)
				}
				if p := recv(t, arrived, 5*time.Second, "the request to reach the app"); p != tc.paths[0] {
					t.Fatalf("the app got %s first, want %s", p, tc.paths[0])
				}
				if how == "Close" {
					conn.Close()
				} else if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if how == "CloseWrite" {
					for i, p := range tc.paths {
						res, body := readResponse(t, br, tc.method)
						if res.StatusCode != 200 || body != "answer" {
							t.Fatalf("answer %d (%s): %d %q, want 200 \"answer\"", i+1, p, res.StatusCode, body)
						}
					}
					// Then the connection closes.
					if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
						t.Fatalf("after the answers: %q, %v; want the end of stream", rest, err)
					}
				}
				want := int64(len(tc.paths))
				testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d answers counted as the color's", want), func() bool {
					select {
					case p := <-cancelled:
						t.Fatalf("the app's request %s was cancelled: the end of stream was taken for a client gone", p)
					default:
					}
					s := tr.Stats()[bluegreen.Blue]
					return s.Requests == want && s.Status[1] == want && s.InFlight == 0
				})
				if s := tr.Stats()[bluegreen.Blue]; s.ClientErrors != 0 {
					t.Fatalf("stats %+v: a half-closed client counted as a client error", s)
				}
			})
		}
	}
}
