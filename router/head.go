package router

// This file is portable and pure: where an HTTP/1 head ends in a buffer,
// and the writing of a response head the router sends itself. The event
// loop uses it; it builds and is tested on every OS.

import (
	"bytes"
	"net/http"
	"strconv"
)

// responseHeadLen returns the length of the response head at the start of
// b, through the empty line that ends it, or -1 when b holds no complete
// head yet. Lines may end with a bare LF, which RFC 9112 section 2.2 lets a
// recipient accept: such a head is not plain, so net/http reads it.
func responseHeadLen(b []byte) int {
	// An empty line is "\n\r\n" (which the usual CRLF CRLF ends with) or
	// "\n\n"; the latter is looked for only before the former, never in
	// the body bytes that may follow the head.
	end := bytes.Index(b, lfcrlf)
	within := b
	if end >= 0 {
		end += len(lfcrlf)
		within = b[:end]
	}
	if i := bytes.Index(within, lflf); i >= 0 {
		return i + len(lflf)
	}
	return end
}

// appendHead appends a status line and the headers (minus skip, and minus
// any name or value that would break the head) with the blank line.
func appendHead(b []byte, code int, h http.Header, skip func(string) bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\n"...)
	for k, vv := range h {
		if skip != nil && skip(k) || !validHeaderName(k) {
			continue
		}
		for _, v := range vv {
			if validHeaderValue(v) {
				b = appendHeader(b, k, v)
			}
		}
	}
	return append(b, "\r\n"...)
}

// appendHeader appends the header line "k: v" with its CRLF.
func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}
