package router

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// oneWorker is an app with a single synchronous worker, as a gunicorn
// sync app with one worker: a request holds the worker while it reads its
// body. It answers with the body's length, SHA-256, Content-Length and
// Transfer-Encoding as it saw them.
func oneWorker() http.HandlerFunc {
	var worker sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) {
		worker.Lock()
		defer worker.Unlock()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "len=%d sum=%x cl=%d te=%v", len(b), sha256.Sum256(b), r.ContentLength, r.TransferEncoding)
	}
}

// TestSlowUploadDoesNotHoldTheApp: with BufferRequests, a client sending
// its body slowly does not hold the app's only worker: a fast client is
// answered meanwhile, and the slow body reaches the app whole, with its
// length. Without buffering the fast client waited for the slow upload
// (finding 5: the color went unhealthy behind a one-worker app).
func TestSlowUploadDoesNotHoldTheApp(t *testing.T) {
	for _, std := range []bool{false, true} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("net/http=%v chunked=%v", std, chunked), func(t *testing.T) {
				tr := startRouter(t, Options{NetHTTPServer: std, BufferRequests: true}, bluegreen.Blue,
					map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, oneWorker())}})
				slow, slowR := rawConn(t, tr.pub)
				// More than fills the engines' write buffers: the first
				// part reaches the app unless the router buffers.
				part1, part2 := strings.Repeat("a", 100<<10), strings.Repeat("b", 28<<10)
				whole := part1 + part2
				head := fmt.Sprintf("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(whole))
				first, rest := part1, part2
				if chunked {
					head = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
					first = fmt.Sprintf("%x\r\n%s\r\n", len(part1), part1)
					rest = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(part2), part2)
				}
				if _, err := io.WriteString(slow, head+first); err != nil {
					t.Fatal(err)
				}
				// The fast client is answered while half the slow body is
				// still to come.
				res, body, _ := sendRaw(t, tr.pub, "POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
				if res.StatusCode != 200 || !strings.HasPrefix(body, "len=2 ") {
					t.Fatalf("fast client: %d %q", res.StatusCode, body)
				}
				if _, err := io.WriteString(slow, rest); err != nil {
					t.Fatal(err)
				}
				res, b := readResponse(t, slowR, "POST")
				want := fmt.Sprintf("len=%d sum=%x cl=%d te=[]", len(whole), sha256.Sum256([]byte(whole)), len(whole))
				if res.StatusCode != 200 || b != want {
					t.Fatalf("slow upload: %d %q, want %q", res.StatusCode, b, want)
				}
			})
		}
	}
}

// TestBufferedBodySpillsToAFile: a body over BufferMemory goes on in a
// temp file in TempDir (unlinked at once: nothing is left there) and
// reaches the app byte for byte.
func TestBufferedBodySpillsToAFile(t *testing.T) {
	dir := t.TempDir()
	tr := startRouter(t, Options{BufferRequests: true, BufferMemory: 1024, TempDir: dir}, bluegreen.Blue,
		map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, oneWorker())}})
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16*5) // 320 KiB
	resp, err := newClient(t).Post("http://"+tr.pub+"/big", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("len=%d sum=%x cl=%d te=[]", len(body), sha256.Sum256(body), len(body))
	if resp.StatusCode != 200 || string(b) != want {
		t.Fatalf("%d %q, want %q", resp.StatusCode, b, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// TestBodyDeadline: a client that sends a byte well within each
// BodyTimeout but never finishes is answered 408 at BodyDeadline, and the
// app never sees the request.
func TestBodyDeadline(t *testing.T) {
	for _, std := range []bool{false, true} {
		t.Run(fmt.Sprintf("net/http=%v", std), func(t *testing.T) {
			var hits int64
			var mu sync.Mutex
			app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits++
				mu.Unlock()
				io.Copy(io.Discard, r.Body)
			})
			tr := startRouter(t, Options{NetHTTPServer: std, BufferRequests: true, BodyTimeout: 10 * time.Second, BodyDeadline: 300 * time.Millisecond},
				bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, app)}})
			conn, br := rawConn(t, tr.pub)
			if _, err := io.WriteString(conn, "POST /drip HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			answered := make(chan *http.Response, 1)
			go func() {
				res, err := http.ReadResponse(br, nil)
				if err == nil {
					answered <- res
				}
				close(answered)
			}()
			tick := time.NewTicker(50 * time.Millisecond) // the client's pace, not a synchronisation
			defer tick.Stop()
			for {
				select {
				case res := <-answered:
					if res == nil || res.StatusCode != http.StatusRequestTimeout {
						t.Fatalf("answer %v, want 408", res)
					}
					mu.Lock()
					defer mu.Unlock()
					if hits != 0 {
						t.Fatalf("the app saw %d requests", hits)
					}
					return
				case <-tick.C:
					if _, err := io.WriteString(conn, "x"); err != nil {
						t.Fatalf("writing a byte: %v (no answer yet)", err)
					}
				}
			}
		})
	}
}

// bigAnswerApp is a one-worker app whose /big answers n bytes with a
// Content-Length (holding its worker until they are all written) and
// whose other paths answer "small"; /nobuf adds "X-Accel-Buffering: no".
func bigAnswerApp(n int) http.HandlerFunc {
	var worker sync.Mutex
	body := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	return func(w http.ResponseWriter, r *http.Request) {
		worker.Lock()
		defer worker.Unlock()
		switch r.URL.Path {
		case "/big", "/nobuf":
			if r.URL.Path == "/nobuf" {
				w.Header().Set("X-Accel-Buffering", "no")
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body)
		default:
			io.WriteString(w, "small")
		}
	}
}

// TestSlowReaderDoesNotHoldTheApp: with BufferResponses, a client that
// reads nothing of a 32 MiB answer (more than the sockets between it and
// the app can hold) does not hold the app's only worker: a fast client
// is answered meanwhile, and the slow one gets every byte when it reads.
func TestSlowReaderDoesNotHoldTheApp(t *testing.T) {
	for _, std := range []bool{false, true} {
		t.Run(fmt.Sprintf("net/http=%v", std), func(t *testing.T) {
			const size = 32 << 20
			tr := startRouter(t, Options{NetHTTPServer: std, BufferResponses: true, BufferResponseMax: 64 << 20, TempDir: t.TempDir()},
				bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, bigAnswerApp(size))}})
			slow, slowR := rawConn(t, tr.pub)
			slow.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(slow, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if res, body, _ := sendRaw(t, tr.pub, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n"); res.StatusCode != 200 || body != "small" {
				t.Fatalf("fast client: %d %q", res.StatusCode, body)
			}
			res, err := http.ReadResponse(slowR, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, res.Body)
			if err != nil || n != size || res.ContentLength != size {
				t.Fatalf("slow reader got %d bytes (%v), length %d, want %d", n, err, res.ContentLength, size)
			}
		})
	}
}

// TestXAccelBufferingNoStreams: an answer whose app says
// "X-Accel-Buffering: no" is streamed, and the header is not passed on.
func TestXAccelBufferingNoStreams(t *testing.T) {
	tr := startRouter(t, Options{BufferResponses: true}, bluegreen.Blue,
		map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, bigAnswerApp(1<<10))}})
	res, body, _ := sendRaw(t, tr.pub, "GET /nobuf HTTP/1.1\r\nHost: x\r\n\r\n")
	if res.StatusCode != 200 || len(body) != 1<<10 {
		t.Fatalf("%d, %d bytes", res.StatusCode, len(body))
	}
	if v, ok := res.Header["X-Accel-Buffering"]; ok {
		t.Fatalf("X-Accel-Buffering passed on: %q", v)
	}
	if !noBuffering(http.Header{"X-Accel-Buffering": {"No"}}) || !noBuffering(http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}) ||
		noBuffering(http.Header{"Content-Type": {"text/html"}}) {
		t.Fatal("noBuffering")
	}
}
