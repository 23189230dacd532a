package router

import (
	"bytes"
	"net/http"
	"strconv"
)

// rawHead is what the event loop needs from an upstream's response head
// that it forwards without net/http (appendRawHead).
type rawHead struct {
	status  int
	length  int64 // Content-Length, or -1 when there is none
	chunked bool  // Transfer-Encoding: chunked
	close   bool  // the upstream closes the connection after this response
}

// appendRawHead parses an upstream's response head (status line to blank
// line, CRLF line ends, as parseHead cuts it) when it is in the plain
// subset the event loop forwards by itself, and appends to dst the
// client's status line and the header lines the client gets: every line
// as it came except the hop-by-hop ones (RFC 9110 section 7.6.1) and,
// when dropColor, the upstream's own X-Bluegreen-Color (the router sets
// it). The caller adds the framing, Connection and color lines and the
// blank line. The subset: HTTP/1.1, a final status (200-599), header
// names that are tokens right before their colon, values without control
// characters, at most one Content-Length of digits, a Transfer-Encoding
// of exactly "chunked" and then no Content-Length, a Connection that
// names only close or keep-alive, no Trailer. For anything else it
// returns ok false and dst unchanged in content (its length restored):
// the caller then hands the head to http.ReadResponse, whose checks are
// the reference. isHead says the request's method is HEAD, for the
// framing. It allocates nothing but dst's growth.
func appendRawHead(dst, head []byte, isHead, dropColor bool) (_ []byte, h rawHead, ok bool) {
	mark := len(dst)
	fail := func() ([]byte, rawHead, bool) { return dst[:mark], rawHead{}, false }
	line, rest, found := bytes.Cut(head, crlf)
	if !found || len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || len(line) > 12 && line[12] != ' ' {
		return fail()
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fail()
		}
		h.status = h.status*10 + int(c-'0')
	}
	if h.status < 200 || h.status > 599 || !printable(line[12:]) {
		return fail()
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(h.status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(h.status)...)
	dst = append(dst, "\r\n"...)
	h.length = -1
	lengths := 0
	for {
		line, rest, found = bytes.Cut(rest, crlf)
		if !found {
			return fail()
		}
		if len(line) == 0 {
			break // the blank line
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return fail() // also an obs-fold line, which starts with a space
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if !printable(value) {
			return fail()
		}
		switch {
		case bytes.EqualFold(name, hdrContentLength):
			lengths++
			n, good := parseLength(value)
			if !good || lengths > 1 {
				return fail()
			}
			h.length = n
		case bytes.EqualFold(name, hdrTransferEncoding):
			if h.chunked || !bytes.EqualFold(value, tokenChunked) {
				return fail()
			}
			h.chunked = true
			continue
		case bytes.EqualFold(name, hdrConnection):
			for v := value; len(v) > 0; {
				var t []byte
				t, v, _ = bytes.Cut(v, comma)
				switch t = bytes.Trim(t, " \t"); {
				case bytes.EqualFold(t, tokenClose):
					h.close = true
				case len(t) == 0, bytes.EqualFold(t, tokenKeepAlive):
				default:
					return fail() // it names a header to drop: net/http's path does that
				}
			}
			continue
		case bytes.EqualFold(name, hdrTrailer):
			return fail()
		case hopByHop(name), dropColor && bytes.EqualFold(name, hdrColor):
			continue
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	if len(rest) > 0 || h.chunked && lengths > 0 {
		return fail()
	}
	// As http.ReadResponse: a response whose body runs until the
	// connection closes closes it.
	if h.length < 0 && !h.chunked && !isHead && h.status != http.StatusNoContent && h.status != http.StatusNotModified {
		h.close = true
	}
	return dst, h, true
}

// printable reports whether b holds no control character but HTAB.
func printable(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hopByHop reports the response headers, other than those appendRawHead
// handles itself, that skipResponseHeader drops.
func hopByHop(name []byte) bool {
	for _, k := range hopByHopNames {
		if bytes.EqualFold(name, k) {
			return true
		}
	}
	return false
}

// parseLength parses a Content-Length value: digits only, at most 18.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

var (
	hdrContentLength    = []byte("Content-Length")
	hdrTransferEncoding = []byte("Transfer-Encoding")
	hdrConnection       = []byte("Connection")
	hdrTrailer          = []byte("Trailer")
	hdrColor            = []byte(headerColor)
	tokenChunked        = []byte("chunked")
	tokenClose          = []byte("close")
	tokenKeepAlive      = []byte("keep-alive")
	comma               = []byte(",")
	hopByHopNames       = [][]byte{[]byte("Proxy-Connection"), []byte("Keep-Alive"),
		[]byte("Proxy-Authenticate"), []byte("Proxy-Authorization"), []byte("Te"), []byte("Upgrade")}
)
