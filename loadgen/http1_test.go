package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	const next = "HTTP/1.1 299 Next\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct {
		name, in  string
		status    int
		keepAlive bool
		color     string
		err       error // nil, io.EOF, io.ErrUnexpectedEOF or errProto
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nX-Bluegreen-Color: blue\r\nContent-Length: 5\r\n\r\nhello",
			status: 200, keepAlive: true, color: "blue"},
		{name: "color header any case, trimmed", in: "HTTP/1.1 200 OK\r\nx-bluegreen-COLOR:  green \t\r\nContent-Length: 0\r\n\r\n",
			status: 200, keepAlive: true, color: "green"},
		{name: "bare LF", in: "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", status: 200, keepAlive: true},
		{name: "no reason phrase", in: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", status: 404, keepAlive: true},
		{name: "chunked with extensions and trailers",
			in:     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
			status: 200, keepAlive: true},
		{name: "chunked wins over content-length",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			status: 200, keepAlive: true},
		{name: "interim 103 skipped", in: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
			status: 200, keepAlive: true},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, keepAlive: true},
		{name: "304 ignores content-length", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
			status: 304, keepAlive: true},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: Upgrade, close\r\nContent-Length: 0\r\n\r\n",
			status: 200},
		{name: "http/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			status: 200, keepAlive: true},
		{name: "http/1.0 default close", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200},
		{name: "read to close", in: "HTTP/1.1 200 OK\r\n\r\nbody until EOF", status: 200},
		{name: "unknown transfer-encoding reads to close", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
			status: 200},
		{name: "closed before response", in: "", err: io.EOF},
		{name: "closed mid status line", in: "HTTP/1.1 2", err: io.ErrUnexpectedEOF},
		{name: "closed mid headers", in: "HTTP/1.1 200 OK\r\nContent-Le", err: io.ErrUnexpectedEOF},
		{name: "short body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", err: io.ErrUnexpectedEOF},
		{name: "short chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", err: io.ErrUnexpectedEOF},
		{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n", err: errProto},
		{name: "http/2 preface", in: "HTTP/2 200\r\n\r\n", err: errProto},
		{name: "bad status code", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: errProto},
		{name: "bad header line", in: "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", err: errProto},
		{name: "bad content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: errProto},
		{name: "conflicting content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			err: errProto},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: errProto},
		{name: "chunk longer than its size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
			err: errProto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.err == nil && tc.keepAlive {
				in += next // the reader must stop exactly at the end of the response
			}
			br := bufio.NewReaderSize(strings.NewReader(in), 64)
			var r response
			r.color = []byte("stale")
			err := readResponse(br, []byte("X-Bluegreen-Color"), &r)
			switch {
			case tc.err == errProto:
				var pe *protocolError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a protocolError", err)
				}
				return
			case err != tc.err:
				t.Fatalf("err = %v, want %v", err, tc.err)
			case err != nil:
				return
			}
			if r.status != tc.status || r.keepAlive != tc.keepAlive || string(r.color) != tc.color {
				t.Fatalf("got status %d keepAlive %v color %q, want %d %v %q",
					r.status, r.keepAlive, r.color, tc.status, tc.keepAlive, tc.color)
			}
			if tc.keepAlive {
				if err := readResponse(br, []byte("X-Bluegreen-Color"), &r); err != nil || r.status != 299 || len(r.color) != 0 {
					t.Fatalf("next response: status %d color %q err %v", r.status, r.color, err)
				}
			}
		})
	}
}

// errProto stands for "any *protocolError" in the table above.
var errProto = errors.New("protocol error")

func TestLongHeaderLineIsAProtocolError(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 100) + "\r\n\r\n"
	var r response
	err := readResponse(bufio.NewReaderSize(strings.NewReader(in), 32), nil, &r)
	var pe *protocolError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a protocolError", err)
	}
}

func TestBodiesAreReadToTheEndOverRealConnections(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch n % 4 {
		case 0: // chunked: flushed in pieces, no Content-Length
			for range 10 {
				io.WriteString(w, big[:10<<10])
				http.NewResponseController(w).Flush()
			}
		case 1:
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.WriteString(w, big)
		case 2:
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		case 3:
			okHandler(n, w, r)
		}
	})
	res := run(t, Options{URL: s.URL, Connections: 2, Requests: 40})
	if res.OK != 40 || res.Dials != 2 || s.conns.Load() != 2 {
		t.Fatalf("got %v (dials %d, server connections %d); want 40 ok on 2 connections",
			res, res.Dials, s.conns.Load())
	}
}

func TestConnectionCloseResponsesRedialWithoutFailing(t *testing.T) {
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		okHandler(n, w, r)
	})
	res := run(t, Options{URL: s.URL, Connections: 2, Requests: 30})
	if res.OK != 30 || res.Dials != 30 || s.conns.Load() != 30 {
		t.Fatalf("got %v (dials %d, server connections %d), want 30 ok on 30 connections",
			res, res.Dials, s.conns.Load())
	}
}

func TestHTTP10BodyReadToClose(t *testing.T) {
	url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readRequestHead(br) == nil {
			io.WriteString(c, "HTTP/1.0 200 OK\r\nX-Bluegreen-Color: green\r\n\r\nuntil the end")
		}
	})
	res := run(t, Options{URL: url, Connections: 2, Requests: 10})
	if res.OK != 10 || res.Dials != 10 || res.ByColor["green"] != 10 {
		t.Fatalf("got %v (dials %d), want 10 ok on 10 connections", res, res.Dials)
	}
}

func TestMalformedResponseIsAProtocolFailure(t *testing.T) {
	url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readRequestHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 OK\r\n\r\n")
		}
	})
	res := run(t, Options{URL: url, Connections: 1, Requests: 3})
	if res.Failures["protocol"] != 3 {
		t.Fatalf("got %v, want 3 protocol failures", res)
	}
}
