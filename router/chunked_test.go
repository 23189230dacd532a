package router

// This file tests the chunk scanner (chunked.go) on every OS; its fuzz
// target, FuzzChunkScanner, is in fuzz_test.go.

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
