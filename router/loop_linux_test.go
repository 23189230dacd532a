package router

import "testing"

// TestChunkScanner: the end of a chunked body is found wherever reads
// split it, bytes after it are not part of it, and bad framing is an
// error.
func TestChunkScanner(t *testing.T) {
	body := "4\r\nWiki\r\n6;name=v\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
	for split := 0; split <= len(body); split++ {
		var s chunkScanner
		n1, done, err := s.scan([]byte(body[:split]))
		if err != nil || n1 != split || (done && split != len(body)) {
			t.Fatalf("split %d, first part: n=%d done=%v err=%v", split, n1, done, err)
		}
		if done {
			continue
		}
		n2, done, err := s.scan([]byte(body[split:] + "GET / HTTP/1.1"))
		if err != nil || !done || split+n2 != len(body) {
			t.Fatalf("split %d, second part: n=%d done=%v err=%v", split, n2, done, err)
		}
	}
	for _, bad := range []string{
		"x\r\n", "\r\n", "4\nWiki\r\n", "4\r\nWikiX\r\n", "0\r\nX-A: 1\n\r\n", "10000000000000000\r\n",
	} {
		var s chunkScanner
		if _, _, err := s.scan([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestResponseHeadLen: a response head ends at its first empty line, with
// CRLF or bare LF line ends; an incomplete one is not a head yet.
func TestResponseHeadLen(t *testing.T) {
	for in, want := range map[string]int{
		"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody":   len("HTTP/1.1 200 OK\r\nA: b\r\n\r\n"),
		"HTTP/1.1 200 OK\nA: b\nC: d\n\nok":     len("HTTP/1.1 200 OK\nA: b\nC: d\n\n"),
		"HTTP/1.1 200 OK\r\nA: b\n\r\nok":       len("HTTP/1.1 200 OK\r\nA: b\n\r\n"),
		"HTTP/1.1 200 OK\r\nA: b\r\n":           -1,
		"HTTP/1.1 200 OK\r\nA: b\r\n\r":         -1,
		"":                                      -1,
		"HTTP/1.1 204 No Content\r\n\r\n":       len("HTTP/1.1 204 No Content\r\n\r\n"),
		"HTTP/1.1 200 OK\r\nA: b\r\n\r\nX\n\nY": len("HTTP/1.1 200 OK\r\nA: b\r\n\r\n"),
	} {
		if got := responseHeadLen([]byte(in)); got != want {
			t.Errorf("responseHeadLen(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestLoopParkedExchangesHoldNothing: an exchange waiting for reuse keeps
// nothing of its last request alive (its connection's buffers, its
// generation, its upstreams).
func TestLoopParkedExchangesHoldNothing(t *testing.T) {
	tr, c := requestsInARow(t, 10)
	c.CloseIdleConnections()
	parked := 0
	tr.eachLoop(func(l *evloop) {
		// The posted check runs after the top of a round, where the
		// exchanges of the round before are parked.
		res := make(chan string, 1)
		if !l.post(func() {
			for _, x := range l.free {
				if x.cl != nil || x.up != nil || x.head != nil || x.c.gen != nil || x.c.pool != nil || x.c.up != nil {
					res <- "a parked exchange still holds its last request"
					return
				}
			}
			parked += len(l.free)
			res <- ""
		}) {
			t.Fatal("the loop refused a post")
		}
		if msg := <-res; msg != "" {
			t.Fatal(msg)
		}
	})
	if parked == 0 {
		t.Fatal("no exchange was parked for reuse")
	}
}
