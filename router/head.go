package router

// This file is portable and pure: the bytes of HTTP/1 heads. It finds where
// a request or response head ends in a buffer, holds the checks that decide
// whether a request head is plain enough for the fast path and the event
// loop (the rest goes to net/http), and writes the heads of the answers the
// router makes itself. Every path uses it; it builds and is tested on every
// OS (headcheck.go holds the framing policy every head meets).

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// headEnd returns the length of the request head at the start of buf,
// ending with "\r\n\r\n", or 0 when buf holds no complete head. A head that
// ends with a bare LF somewhere ("\n\n", "\n\r\n") is complete but odd: it
// is given whole (len(buf)) for wellFormedHead to refuse.
func headEnd(buf []byte) int {
	if i := bytes.Index(buf, crlfcrlf); i >= 0 {
		return i + len(crlfcrlf)
	}
	if bytes.Contains(buf, lflf) || bytes.Contains(buf, lfcrlf) {
		return len(buf)
	}
	return 0
}

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

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
	lfcrlf   = []byte("\n\r\n")
)

// wellFormedHead reports whether every line of head ends with CRLF, holds
// no control character other than HTAB, every header name is a token
// followed by a colon, exactly one of them is Host and Content-Length and
// Transfer-Encoding do not come together: anything else goes
// to net/http, whose checks are the reference. (http.ReadRequest drops the
// Host header, so the count must come from the bytes.)
func wellFormedHead(head []byte) bool {
	for i, b := range head {
		switch {
		case b == '\n':
			if i == 0 || head[i-1] != '\r' {
				return false
			}
		case b == '\r':
			if i+1 >= len(head) || head[i+1] != '\n' {
				return false
			}
		case b < 0x20 && b != '\t', b == 0x7f:
			return false
		}
	}
	first := bytes.Index(head, crlf)
	hosts, lengths, codings := 0, 0, 0
	for rest := head[first+2:]; len(rest) > 2; {
		end := bytes.Index(rest, crlf)
		line := rest[:end]
		rest = rest[end+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return false // also folded (obsolete) continuation lines
		}
		switch name := line[:colon]; {
		case bytes.EqualFold(name, hostName):
			hosts++
		case bytes.EqualFold(name, contentLengthName):
			lengths++
		case bytes.EqualFold(name, transferEncodingName):
			codings++
		}
	}
	// Both framings at once is how requests are smuggled: net/http's
	// answer is the reference.
	return hosts == 1 && (lengths == 0 || codings == 0)
}

var (
	crlf                 = []byte("\r\n")
	hostName             = []byte("Host")
	contentLengthName    = []byte("Content-Length")
	transferEncodingName = []byte("Transfer-Encoding")
)

// isToken reports whether b is an RFC 9110 token (a header field name).
func isToken(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// fastRequest reports whether the fast path serves req.
func fastRequest(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 {
		return false
	}
	if !commonMethod(req.Method) {
		return false
	}
	if len(req.RequestURI) == 0 || req.RequestURI[0] != '/' {
		return false
	}
	h := req.Header
	if !plainHost(req.Host) { // wellFormedHead saw exactly one Host line
		return false
	}
	if h["Expect"] != nil || h["Upgrade"] != nil || h["Trailer"] != nil || req.Trailer != nil {
		return false
	}
	if te := req.TransferEncoding; len(te) > 1 || (len(te) == 1 && te[0] != "chunked") {
		return false
	}
	return len(h["Content-Length"]) <= 1 && !listed(h["Connection"], "Upgrade")
}

// plainHost accepts a host[:port] made of letters, digits and . - : [ ] _
// only; other (valid or not) Host values go to net/http.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '.' || b == '-' || b == ':' || b == '[' || b == ']' || b == '_') {
			return false
		}
	}
	return true
}

// refusalAnswer is the whole answer, dated date, to a request vetHead
// refused.
func refusalAnswer(v headVerdict, date string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nDate: %s\r\nContent-Length: %d\r\n\r\n%s",
		v.status, http.StatusText(v.status), date, len(v.why), v.why)
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
