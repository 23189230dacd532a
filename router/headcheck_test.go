package router

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// pathRecorder is a backend that records the path of every request it
// gets and answers 200.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()
	io.WriteString(w, "ok")
}

func (p *pathRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

// answers sends raw on a new connection to addr and reads the answers
// that come: one more after each that keeps the connection, until n or
// one that closes it (then it checks the router closed it).
func answers(t *testing.T, addr, raw string, n ...int) []int {
	t.Helper()
	max := 1
	if len(n) > 0 {
		max = n[0]
	}
	conn, br := rawConn(t, addr)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	var got []int
	for len(got) < max {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			if !isClosedErr(err) {
				t.Fatalf("%.60q: reading answer %d after %v: %v", raw, len(got)+1, got, err)
			}
			return got
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		got = append(got, res.StatusCode)
		if res.Close {
			if _, err := br.ReadByte(); err == nil {
				t.Fatalf("answer %d said close but more bytes followed", len(got))
			}
			return got
		}
	}
	return got
}

// smuggle is the outside review's request: HTTP/1.0 kept alive, framed by
// Content-Length (4) and Transfer-Encoding (chunked) at once, its chunk
// holding a second request. A parser that takes the length reads the
// chunk as the next request.
func smuggle(pad string) string {
	inner := "GET /smuggled HTTP/1.0\r\nHost: x\r\n\r\n"
	return "POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n" + pad +
		"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(inner), inner)
}

// TestNoSmugglingWithABigHead: ambiguous framing gets one 400 and a
// closed connection, whatever the head's size and whichever path reads
// it; the app sees nothing. A head over the fast path's 4 KiB used to go
// to net/http unchecked: three answers, and the app served /smuggled.
func TestNoSmugglingWithABigHead(t *testing.T) {
	for _, std := range []bool{false, true} {
		for _, pad := range []string{"", bigHeader} {
			t.Run(fmt.Sprintf("net/http=%v head=%d", std, len(smuggle(pad))), func(t *testing.T) {
				app := &pathRecorder{}
				tr := startRouter(t, Options{NetHTTPServer: std, ReverseProxyOnly: std}, bluegreen.Blue,
					map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, app)}})
				if got := answers(t, tr.pub, smuggle(pad), 3); len(got) != 1 || got[0] != 400 {
					t.Fatalf("answers %v, want one 400", got)
				}
				if seen := app.seen(); len(seen) != 0 {
					t.Fatalf("the app served %v", seen)
				}
			})
		}
	}
}

// headCases are request heads with the status the router must answer;
// each is also sent padded past the fast path's buffer (where the pad
// does not change the verdict). They seed FuzzVetHead too.
var headCases = []struct {
	name, raw string
	want      int
	noPad     bool // the pad would change the verdict
}{
	{"plain", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, false},
	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n\r\n", 200, false},
	{"length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 200, false},
	{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, false},
	{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, false},
	{"chunked in HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, false},
	{"smuggle", smuggle(""), 400, false},
	{"authority-form GET", "GET a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", 400, false},
	{"CONNECT", "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", 501, false},
	{"asterisk OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200, false},
	{"absolute-form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, false},
	{"long target", "GET /" + strings.Repeat("u", DefaultMaxURILength) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, false},
	{"target at the limit", "GET /" + strings.Repeat("u", DefaultMaxURILength-1) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200, false},
	{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", DefaultMaxHeaders) + "\r\n", 431, true},
	{"fields at the limit", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", DefaultMaxHeaders-2) + "\r\n", 200, true},
	{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", DefaultMaxHeaderBytes) + "\r\n\r\n", 431, true},
	{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, false},
	{"folded line", "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", 400, false},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, false},
	{"no host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400, false},
}

// TestHeadVerdictSameOnEveryPath is the differential test of the one
// framing policy: every head of headCases gets the same answer from the
// router's own reader (event loop or goroutine per connection, as
// TestMain runs) and from net/http (data_path: standard), and again with
// the head padded past the fast path's 4 KiB (net/http reads it there
// too); a refusal closes the connection on every path.
func TestHeadVerdictSameOnEveryPath(t *testing.T) {
	app := &pathRecorder{}
	up := newBackend(t, app)
	own := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	std := startRouter(t, Options{NetHTTPServer: true, ReverseProxyOnly: true}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {up}})
	for _, tc := range headCases {
		raws := []string{tc.raw}
		if !tc.noPad {
			line, rest, _ := strings.Cut(tc.raw, "\r\n")
			raws = append(raws, line+"\r\n"+bigHeader+rest)
		}
		for i, raw := range raws {
			for _, tr := range []*testRouter{own, std} {
				n := 2 // a refusal must close: see that nothing follows
				if tc.want == 200 {
					n = 1
				}
				got := answers(t, tr.pub, raw, n)
				if len(got) == 0 || got[0] != tc.want {
					t.Errorf("%s (padded %v, net/http %v): answers %v, want %d first", tc.name, i == 1, tr == std, got, tc.want)
				}
				if tc.want != 200 && len(got) > 1 {
					t.Errorf("%s (padded %v, net/http %v): answers %v after a refusal", tc.name, i == 1, tr == std, got)
				}
			}
		}
	}
}

// TestHeadLimitsAreOptions: the limits come from Options on every path.
func TestHeadLimitsAreOptions(t *testing.T) {
	for _, std := range []bool{false, true} {
		tr := echoRouter(t, Options{NetHTTPServer: std, MaxHeaderBytes: 2048, MaxURILength: 64, MaxHeaders: 5}, nil)
		for _, tc := range []struct {
			raw  string
			want int
		}{
			{"GET /" + strings.Repeat("u", 64) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
			{"GET /" + strings.Repeat("u", 63) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200},
			{"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", 5) + "\r\n", 431},
			{"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", 4) + "\r\n", 200},
			{"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("b", 2048) + "\r\n\r\n", 431},
		} {
			if got := answers(t, tr.pub, tc.raw); len(got) == 0 || got[0] != tc.want {
				t.Errorf("net/http %v: %.40q...: answers %v, want %d", std, tc.raw, got, tc.want)
			}
		}
	}
}

// TestFollowerKeepsAliveAcrossRequests: a connection net/http serves
// (HTTP/1.0 kept alive, big heads) carries several requests with bodies
// of both framings, each vetted in turn, and the third, refused, closes
// it.
func TestFollowerKeepsAliveAcrossRequests(t *testing.T) {
	app := &pathRecorder{}
	tr := startRouter(t, Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, app)}})
	raw := "POST /one HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /two HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Transfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\nX-T: 1\r\n\r\n" +
		"GET /three HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /four HTTP/1.1\r\nHost: x\r\n\r\n"
	conn, br := rawConn(t, tr.pub)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 4 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Logf("after %v: %v", got, err)
			break
		}
		io.Copy(io.Discard, res.Body)
		got = append(got, res.StatusCode)
	}
	if fmt.Sprint(got) != "[200 200 400]" {
		t.Fatalf("answers %v, want [200 200 400]", got)
	}
	if seen := fmt.Sprint(app.seen()); seen != "[/one /two]" {
		t.Fatalf("the app served %s", seen)
	}
}
