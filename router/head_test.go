package router

// This file tests the portable head functions of head.go on every OS.

import "testing"

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
