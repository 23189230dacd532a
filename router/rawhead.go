package router

import (
	"bytes"
	"net"
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
	// noBuffer: the answer must stream (text/event-stream, or the app
	// said "X-Accel-Buffering: no", which is not passed on).
	noBuffer bool
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
			n, good := oneLength(value, &lengths)
			if !good {
				return fail()
			}
			h.length = n
			if h.status == http.StatusNoContent {
				continue // never sent with a 204 (RFC 9110 8.6)
			}
		case bytes.EqualFold(name, hdrTransferEncoding):
			if h.chunked || !bytes.EqualFold(value, tokenChunked) {
				return fail()
			}
			h.chunked = true
			continue
		case bytes.EqualFold(name, hdrConnection):
			closing, plain := connectionTokens(value)
			if !plain {
				return fail() // it names a header to drop: net/http's path does that
			}
			h.close = h.close || closing
			continue
		case bytes.EqualFold(name, hdrTrailer):
			return fail()
		case bytes.EqualFold(name, hdrAccelBuffering):
			h.noBuffer = h.noBuffer || bytes.EqualFold(value, tokenNo)
			continue
		case bytes.EqualFold(name, hdrContentType):
			h.noBuffer = h.noBuffer || eventStream(value)
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

// connectionTokens reads a Connection value: closing when it names
// close, plain when it names nothing but close and keep-alive.
func connectionTokens(value []byte) (closing, plain bool) {
	for v := value; len(v) > 0; {
		var t []byte
		t, v, _ = bytes.Cut(v, comma)
		switch t = bytes.Trim(t, " \t"); {
		case bytes.EqualFold(t, tokenClose):
			closing = true
		case len(t) == 0, bytes.EqualFold(t, tokenKeepAlive):
		default:
			return false, false
		}
	}
	return closing, true
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

// oneLength parses a Content-Length value, counting it in seen: ok only
// for the first one of a head, and only if parseLength takes it.
func oneLength(v []byte, seen *int) (int64, bool) {
	*seen++
	n, ok := parseLength(v)
	return n, ok && *seen == 1
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
	hdrAccelBuffering   = []byte("X-Accel-Buffering")
	hdrContentType      = []byte("Content-Type")
	tokenNo             = []byte("no")
	hdrColor            = []byte(headerColor)
	tokenChunked        = []byte("chunked")
	tokenClose          = []byte("close")
	tokenKeepAlive      = []byte("keep-alive")
	comma               = []byte(",")
	hopByHopNames       = [][]byte{[]byte("Proxy-Connection"), []byte("Keep-Alive"),
		[]byte("Proxy-Authenticate"), []byte("Proxy-Authorization"), []byte("Te"), []byte("Upgrade")}
)

// rawRequest is what the event loop needs from a client's request head
// that it forwards without net/http (appendRawRequest).
type rawRequest struct {
	method string // one of commonMethod's, as the net/http constant
	close  bool   // Connection: close
	length int64  // Content-Length, 0 when there is none
}

// appendRawRequest parses a client's request head (which wellFormedHead
// accepted) when it is in the plain subset the event loop forwards by
// itself, and appends to dst the head to send upstream, as
// writeRequestHead writes it for the same request with trust off (in
// the client's order of lines): the request line, every line as it came
// except the hop-by-hop ones and (unless fw.underscores) those whose
// name holds an underscore, then X-Forwarded-For and X-Real-IP (remote's
// address), X-Forwarded-Host,
// X-Forwarded-Proto and the framing. The subset: HTTP/1.1, one of
// commonMethod's methods, an origin-form target of printable ASCII
// without '%' whose path is not colorPath, a plainHost Host, at most one
// Content-Length, a Connection that names only close or keep-alive, and
// none of Transfer-Encoding, Expect, Upgrade, Trailer, TE, Close, or (when
// fw.trust) the forwarding headers. For anything else it returns ok false
// and dst unchanged in content: the caller then uses http.ReadRequest,
// the reference. It allocates nothing but dst's growth.
func appendRawRequest(dst, head []byte, colorPath, remote string, fw forwarding) (_ []byte, r rawRequest, ok bool) {
	mark := len(dst)
	fail := func() ([]byte, rawRequest, bool) { return dst[:mark], rawRequest{}, false }
	ip, _, err := net.SplitHostPort(remote)
	if err != nil {
		return fail()
	}
	line, rest, _ := bytes.Cut(head, crlf)
	method, line, _ := bytes.Cut(line, space)
	target, proto, _ := bytes.Cut(line, space)
	if r.method = methodName(method); r.method == "" || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return fail()
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f || c == '%' {
			return fail()
		}
	}
	path, _, _ := bytes.Cut(target, question)
	if string(path) == colorPath {
		return fail()
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	var host []byte // wellFormedHead saw exactly one Host line
	lengths := 0
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		if len(line) == 0 {
			break // the blank line
		}
		name, value, _ := bytes.Cut(line, colon)
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, hdrHost):
			if !plainHost(string(value)) { // no copy: the conversion does not escape
				return fail()
			}
			host = value
			dst = append(dst, "Host: "...)
			dst = append(dst, host...)
			dst = append(dst, "\r\n"...)
			continue
		case bytes.EqualFold(name, hdrContentLength):
			n, good := oneLength(value, &lengths)
			if !good {
				return fail()
			}
			r.length = n
			continue
		case bytes.EqualFold(name, hdrConnection):
			closing, plain := connectionTokens(value)
			if !plain {
				return fail()
			}
			r.close = r.close || closing
			continue
		case listedName(name, refusedRequestNames):
			return fail()
		case listedName(name, forwardingNames):
			if fw.trust {
				return fail()
			}
			continue
		case hopByHop(name):
			continue
		case !fw.underscores && bytes.IndexByte(name, '_') >= 0:
			continue
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	if host == nil {
		return fail()
	}
	dst = append(dst, "X-Forwarded-For: "...)
	dst = append(dst, ip...)
	dst = append(dst, "\r\nX-Real-Ip: "...)
	dst = append(dst, ip...)
	dst = append(dst, "\r\nX-Forwarded-Host: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nX-Forwarded-Proto: http\r\n"...)
	switch {
	case r.length > 0:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, r.length, 10)
		dst = append(dst, "\r\n"...)
	case r.method == http.MethodPost || r.method == http.MethodPut || r.method == http.MethodPatch:
		dst = append(dst, "Content-Length: 0\r\n"...)
	}
	return append(dst, "\r\n"...), r, true
}

// methodName is commonMethod's constant for m, or "".
func methodName(m []byte) string {
	for _, k := range commonMethods {
		if string(m) == k {
			return k
		}
	}
	return ""
}

var commonMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

func listedName(name []byte, names [][]byte) bool {
	for _, k := range names {
		if bytes.EqualFold(name, k) {
			return true
		}
	}
	return false
}

var (
	hdrHost  = []byte("Host")
	space    = []byte(" ")
	question = []byte("?")
	colon    = []byte(":")
	// A header named Close goes to net/http too: the reference drops it
	// when Connection says close (a name Connection lists is dropped).
	refusedRequestNames = [][]byte{[]byte("Transfer-Encoding"), []byte("Expect"), []byte("Upgrade"),
		[]byte("Trailer"), []byte("Te"), []byte("Close")}
	forwardingNames = [][]byte{[]byte("X-Forwarded-For"), []byte("X-Forwarded-Host"),
		[]byte("X-Forwarded-Proto"), []byte("Forwarded"), []byte("X-Real-Ip")}
)
