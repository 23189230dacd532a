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
	if res.StatusCode == http.StatusNoContent {
		delete(want, "Content-Length")
	}
	if dropColor {
		delete(want, headerColor)
	}
	if !reflect.DeepEqual(http.Header(got), want) {
		t.Errorf("%q: header lines %v, want %v", head, got, want)
	}
}

// TestRawHeadsAllocateNothing: the raw paths exist to spare the
// allocations of net/http's.
func TestRawHeadsAllocateNothing(t *testing.T) {
	res := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Length: 47\r\n\r\n")
	req := []byte("GET /api/items?page=2 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
	dst := make([]byte, 0, 512)
	for name, parse := range map[string]func() bool{
		"response": func() bool { _, _, ok := appendRawHead(dst[:0], res, false, true); return ok },
		"request": func() bool {
			_, _, ok := appendRawRequest(dst[:0], req, DefaultColorPath, "127.0.0.1:40000", forwarding{})
			return ok
		},
	} {
		if !parse() {
			t.Fatalf("%s head refused", name)
		}
		if allocs := testing.AllocsPerRun(100, func() { parse() }); allocs != 0 {
			t.Errorf("%s: %v allocations per head, want 0", name, allocs)
		}
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

// rawRequests are request heads (all accepted by wellFormedHead) for
// appendRawRequest: true for those it must take itself.
var rawRequests = []struct {
	head string
	take bool
}{
	{"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
	{"GET /x?y=1&z=/w HTTP/1.1\r\nhost: a.example:8080\r\nUser-Agent: t\r\nAccept: */*\r\nX-A: 1\r\nx-a: 2\r\n\r\n", true},
	{"HEAD /h HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", true},
	{"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n", true},
	{"POST /p HTTP/1.1\r\nHost: h\r\n\r\n", true},
	{"PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", true},
	{"DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\n\r\n", true},
	{"OPTIONS /o HTTP/1.1\r\nHost: [::1]:80\r\nProxy-Authorization: Basic x\r\n\r\n", true},
	{"PATCH /p HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\n\r\n", true},
	{"GET /deployment/color/x HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Pad:  v \t\r\n\r\n", true},
	{"GET /a#frag?q=1 HTTP/1.1\r\nHost: h\r\nX-Obs: caf\xc3\xa9\r\n\r\n", true},

	{"GET /deployment/color/ HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET /deployment/color/?a=1 HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET /deployment%2Fcolor/ HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET / HTTP/1.0\r\nHost: h\r\n\r\n", false},
	{"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", false},
	{"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", false},
	{"TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"get / HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h@x\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h\r\nTe: trailers\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h\r\nTrailer: X-T\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nClose: x\r\n\r\n", false}, // found by review
	{"GET / HTTP/1.1\r\nHost: h\r\nClose: x\r\n\r\n", false},
}

// TestRawRequestMatchesWriteRequestHead checks appendRawRequest against
// the path it stands in for: http.ReadRequest, fastRequest and plain,
// then writeRequestHead. Both heads are read back and compared.
func TestRawRequestMatchesWriteRequestHead(t *testing.T) {
	for _, tc := range rawRequests {
		if !wellFormedHead([]byte(tc.head)) {
			t.Fatalf("%q: not a head wellFormedHead accepts", tc.head)
		}
		for _, trust := range []bool{false, true} {
			prefix := []byte("old")
			out, r, ok := appendRawRequest(prefix, []byte(tc.head), DefaultColorPath, "192.0.2.7:5555", forwarding{trust: trust})
			want := tc.take && !(trust && strings.Contains(tc.head, "Forwarded"))
			if ok != want {
				t.Errorf("%q (trust %v): taken %v, want %v", tc.head, trust, ok, want)
				continue
			}
			if !ok {
				if string(out) != "old" {
					t.Errorf("%q: refused but dst became %q", tc.head, out)
				}
				continue
			}
			checkRawRequest(t, tc.head, trust, out[len("old"):], r)
		}
	}
	if _, _, ok := appendRawRequest(nil, []byte(rawRequests[0].head), DefaultColorPath, "no port", forwarding{}); ok {
		t.Error("a remote address without a port was taken")
	}
}

// checkRawRequest compares what appendRawRequest made of head with what
// the net/http path makes of it.
func checkRawRequest(t *testing.T, head string, trust bool, out []byte, r rawRequest) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	if err != nil {
		t.Errorf("%q: taken, but http.ReadRequest refuses it: %v", head, err)
		return
	}
	if !fastRequest(req) || !plain(req) || len(req.TransferEncoding) > 0 || req.URL.Path == DefaultColorPath {
		t.Errorf("%q: taken, but the loop's net/http path would not serve it", head)
		return
	}
	if r.method != req.Method || r.close != req.Close || r.length != req.ContentLength {
		t.Errorf("%q: %+v, ReadRequest %s close %v length %d", head, r, req.Method, req.Close, req.ContentLength)
	}
	req.RemoteAddr = "192.0.2.7:5555"
	var ref bytes.Buffer
	bw := bufio.NewWriter(&ref)
	writeRequestHead(bw, req, "upstream:1", req.ContentLength > 0, forwarding{trust: trust})
	bw.Flush()
	got, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out)))
	if err != nil {
		t.Errorf("%q: the head written does not parse: %v\n%s", head, err, out)
		return
	}
	want, err := http.ReadRequest(bufio.NewReader(&ref))
	if err != nil {
		t.Fatalf("%q: writeRequestHead's head does not parse: %v", head, err)
	}
	if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
		got.ContentLength != want.ContentLength || !reflect.DeepEqual(got.Header, want.Header) {
		t.Errorf("%q:\n got %s %s host %s length %d %v\nwant %s %s host %s length %d %v", head,
			got.Method, got.RequestURI, got.Host, got.ContentLength, got.Header,
			want.Method, want.RequestURI, want.Host, want.ContentLength, want.Header)
	}
}

// FuzzRawRequest holds appendRawRequest to the net/http path on any head
// wellFormedHead accepts.
func FuzzRawRequest(f *testing.F) {
	for _, tc := range rawRequests {
		f.Add(tc.head, false)
	}
	f.Fuzz(func(t *testing.T, head string, trust bool) {
		end := strings.Index(head, "\r\n\r\n")
		if end < 0 {
			return
		}
		head = head[:end+4]
		if !wellFormedHead([]byte(head)) {
			return
		}
		out, r, ok := appendRawRequest(nil, []byte(head), DefaultColorPath, "192.0.2.7:5555", forwarding{trust: trust})
		if !ok {
			return
		}
		checkRawRequest(t, head, trust, out, r)
	})
}
