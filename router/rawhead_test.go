package router

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

// rawHeads are response heads for appendRawHead: true for those it must
// take itself, false for those it must leave to http.ReadResponse.
var rawHeads = []struct {
	head string
	take bool
}{
	{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	{"HTTP/1.1 200\r\nContent-Length: 3\r\n\r\n", true},
	{"HTTP/1.1 404 Whatever Reason\r\ncontent-length: 9\r\nX-A: 1\r\nx-a: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", true},
	{"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", true},
	{"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nProxy-Connection: x\r\nTe: trailers\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nX-Bluegreen-Color: green\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces:   padded value \t\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 18\r\n\r\n", true},
	{"HTTP/1.1 599 Custom\r\nContent-Length: 1\r\n\r\n", true},

	{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 100 Continue\r\n\r\n", false},
	{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false},
	{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
	{"HTTP/1.1 600 Too High\r\nContent-Length: 1\r\n\r\n", false},
	{"HTTP/1.1 20 Short\r\n\r\n", false},
	{"HTTP/1.1 2000 Long\r\n\r\n", false},
	{"HTTP/1.1 2x0 Bad\r\n\r\n", false},
	{"HTTP/1.1 200 \n0\r\n\r\n", false}, // found by FuzzRawHead
	{"HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\n: b\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX-A b\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX-A: b\x00c\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nextra", false},
}

// TestRawHeadMatchesReadResponse checks appendRawHead against the
// reference it stands in for: http.ReadResponse plus copyResponseHeader.
func TestRawHeadMatchesReadResponse(t *testing.T) {
	for _, tc := range rawHeads {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, dropColor := range []bool{false, true} {
				prefix := []byte("pending bytes")
				out, h, ok := appendRawHead(prefix, []byte(tc.head), method == http.MethodHead, dropColor)
				if ok != tc.take {
					t.Errorf("%q (%s): taken %v, want %v", tc.head, method, ok, tc.take)
					continue
				}
				if !bytes.HasPrefix(out, []byte("pending bytes")) {
					t.Fatalf("%q: the bytes already in dst changed: %q", tc.head, out)
				}
				if !ok {
					if len(out) != len("pending bytes") {
						t.Errorf("%q: refused but dst grew to %q", tc.head, out)
					}
					continue
				}
				checkRawHead(t, tc.head, method, dropColor, out[len("pending bytes"):], h)
			}
		}
	}
}

// checkRawHead compares what appendRawHead made of head with what
// http.ReadResponse makes of it.
func checkRawHead(t *testing.T, head, method string, dropColor bool, out []byte, h rawHead) {
	t.Helper()
	req := &http.Request{Method: method}
	res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), req)
	if err != nil {
		t.Errorf("%q: taken, but http.ReadResponse refuses it: %v", head, err)
		return
	}
	if h.status != res.StatusCode {
		t.Errorf("%q: status %d, ReadResponse %d", head, h.status, res.StatusCode)
	}
	chunked := len(res.TransferEncoding) > 0 && res.TransferEncoding[0] == "chunked"
	if h.chunked != chunked {
		t.Errorf("%q: chunked %v, ReadResponse %v", head, h.chunked, chunked)
	}
	bodyless := method == http.MethodHead || res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified
	if !bodyless && !chunked && h.length != res.ContentLength {
		t.Errorf("%q: length %d, ReadResponse %d", head, h.length, res.ContentLength)
	}
	if h.close != res.Close {
		t.Errorf("%q (%s): close %v, ReadResponse %v", head, method, h.close, res.Close)
	}
	// The header lines, read back, are what copyResponseHeader keeps.
	status, _, _ := bytes.Cut(out, crlf)
	wantStatus := "HTTP/1.1 " + res.Status[:3] + " " + http.StatusText(res.StatusCode)
	if string(status) != wantStatus {
		t.Errorf("%q: status line %q, want %q", head, status, wantStatus)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(out[len(status)+2:], "\r\n"...))))
	got, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Errorf("%q: the lines written do not parse: %v\n%s", head, err, out)
		return
	}
	want := http.Header{}
	copyResponseHeader(want, res.Header)
	if dropColor {
		delete(want, headerColor)
	}
	if !reflect.DeepEqual(http.Header(got), want) {
		t.Errorf("%q: header lines %v, want %v", head, got, want)
	}
}

func TestRawHeadAllocatesNothing(t *testing.T) {
	head := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Length: 47\r\n\r\n")
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, ok := appendRawHead(dst[:0], head, false, true); !ok {
			t.Fatal("refused")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per head, want 0", allocs)
	}
}

// FuzzRawHead holds appendRawHead to the reference on any input: what it
// takes, http.ReadResponse must take and read the same way.
func FuzzRawHead(f *testing.F) {
	for _, tc := range rawHeads {
		f.Add(tc.head, false)
	}
	f.Fuzz(func(t *testing.T, head string, isHead bool) {
		end := strings.Index(head, "\r\n\r\n")
		if end < 0 {
			return
		}
		head = head[:end+4]
		method := http.MethodGet
		if isHead {
			method = http.MethodHead
		}
		out, h, ok := appendRawHead(nil, []byte(head), isHead, true)
		if !ok {
			return
		}
		checkRawHead(t, head, method, true, out, h)
	})
}
