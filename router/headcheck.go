package router

import (
	"bytes"
	"net/http"
	"strconv"
)

// This file is portable and pure: the one framing policy every request
// head meets, whichever path reads it (the event loop, the fast path,
// net/http through headFollower) and whatever its size. FuzzVetHead and
// TestHeadVerdictSameOnEveryPath hold it to that.

// Default head limits (Options.MaxHeaderBytes, MaxURILength, MaxHeaders).
// nginx refuses a request line or a header line over 8 KiB
// (large_client_header_buffers 4 8k) and a head over 32 KiB; haproxy a
// head over its 16 KiB buffer or with over 101 fields; Envoy a head over
// 60 KiB or with over 100 fields.
const (
	DefaultMaxHeaderBytes = 32 << 10
	DefaultMaxURILength   = 8 << 10
	DefaultMaxHeaders     = 100
)

// headLimits are the bounds vetHead enforces; zero fields take the
// defaults.
type headLimits struct {
	maxBytes   int // the whole head, request line and blank line included
	maxURI     int // the request target
	maxHeaders int // header lines
}

func (l headLimits) withDefaults() headLimits {
	if l.maxBytes <= 0 {
		l.maxBytes = DefaultMaxHeaderBytes
	}
	if l.maxURI <= 0 {
		l.maxURI = DefaultMaxURILength
	}
	if l.maxHeaders <= 0 {
		l.maxHeaders = DefaultMaxHeaders
	}
	return l
}

// headVerdict is vetHead's answer: status 0 lets the request through;
// any other status is the router's answer to it, after which the
// connection closes (its framing can no longer be trusted). why is the
// answer's body.
type headVerdict struct {
	status int
	why    string
}

var (
	verdictTooLarge  = headVerdict{http.StatusRequestHeaderFieldsTooLarge, "bluegreen: request head too large\n"}
	verdictTooMany   = headVerdict{http.StatusRequestHeaderFieldsTooLarge, "bluegreen: too many request header fields\n"}
	verdictLongURI   = headVerdict{http.StatusRequestURITooLong, "bluegreen: request target too long\n"}
	verdictFraming   = headVerdict{http.StatusBadRequest, "bluegreen: Transfer-Encoding with Content-Length, or in an HTTP/1.0 request: the request's framing is ambiguous\n"}
	verdictBadField  = headVerdict{http.StatusBadRequest, "bluegreen: malformed header line (a folded line, no colon, or a name that is not a token)\n"}
	verdictAuthority = headVerdict{http.StatusBadRequest, "bluegreen: an authority-form request target is for CONNECT only\n"}
)

// vetHead applies the router's head policy to head, a request head (the
// request line, header lines ending in CRLF or a bare LF, and the blank
// line), or the start of one that has not ended within lim.maxBytes. It
// refuses, in this order: a head over the size limit (431), a request
// target over its limit (414), more header lines than allowed (431),
// Transfer-Encoding together with Content-Length or in an HTTP/1.0
// request (400: RFC 9112 sections 6.1 and 6.3; two parsers may frame it
// differently, which is how requests are smuggled), a header line that is
// not a token name and a colon (400: folded lines, space before the
// colon), and an
// authority-form target ("host:port") on any method but CONNECT (400).
// Everything else it lets through, for the path that serves the request
// to parse (net/http's checks are the reference for the rest).
func vetHead(head []byte, lim headLimits) headVerdict {
	if len(head) > lim.maxBytes {
		return verdictTooLarge
	}
	line, rest, _ := bytes.Cut(head, lf)
	line = bytes.TrimSuffix(line, cr)
	method, target, version := splitRequestLine(line)
	if len(target) > lim.maxURI {
		return verdictLongURI
	}
	http10 := bytes.Equal(version, http10Version)
	fields, codings, lengths, malformed := 0, false, false, false
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, lf)
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			break
		}
		fields++
		name, _, ok := bytes.Cut(line, colon)
		if !ok || len(name) == 0 || !isToken(name) {
			// No colon, a folded line (obs-fold) or space before the
			// colon: RFC 9112 5.1 and 5.2 allow a 400.
			malformed = true
			continue
		}
		switch {
		case bytes.EqualFold(name, transferEncodingName):
			codings = true
		case bytes.EqualFold(name, contentLengthName):
			lengths = true
		}
	}
	if fields > lim.maxHeaders {
		return verdictTooMany
	}
	if codings && (lengths || http10) {
		return verdictFraming
	}
	if malformed {
		return verdictBadField
	}
	if authorityForm(target) && string(method) != http.MethodConnect {
		return verdictAuthority
	}
	return headVerdict{}
}

// splitRequestLine splits "METHOD SP target SP version"; missing parts
// are nil.
func splitRequestLine(line []byte) (method, target, version []byte) {
	method, rest, _ := bytes.Cut(line, sp)
	target, version, _ = bytes.Cut(rest, sp)
	return method, target, version
}

// authorityForm reports whether target is "host:port" (RFC 9112 section
// 3.2.3): not origin-form ("/..."), not asterisk-form ("*") and not
// absolute-form ("scheme://...").
func authorityForm(target []byte) bool {
	if len(target) == 0 || target[0] == '/' || (len(target) == 1 && target[0] == '*') {
		return false
	}
	return !bytes.Contains(target, schemeSep)
}

var (
	lf            = []byte("\n")
	cr            = []byte("\r")
	sp            = []byte(" ")
	schemeSep     = []byte("://")
	http10Version = []byte("HTTP/1.0")
	upgradeName   = []byte("Upgrade")
	chunkedToken  = []byte("chunked")
	h2cToken      = []byte("h2c")
)

// headFraming is how the body after a head that vetHead let through is
// framed, as net/http reads it: by length, chunked, or not at all; and
// whether the connection may leave HTTP after it (an upgrade or CONNECT),
// after which the bytes are no longer requests.
type headFraming struct {
	length  int64 // the Content-Length; 0 with none
	chunked bool
	tunnel  bool
	bad     bool // a framing net/http refuses (it answers and closes)
}

// framingOf reads the framing of head, which vetHead let through.
func framingOf(head []byte) headFraming {
	var f headFraming
	line, rest, _ := bytes.Cut(head, lf)
	method, _, version := splitRequestLine(bytes.TrimSuffix(line, cr))
	f.tunnel = string(method) == http.MethodConnect
	http11 := !bytes.Equal(version, http10Version)
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, lf)
		line = bytes.TrimSuffix(line, cr)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, colon)
		if !ok {
			continue
		}
		name = bytes.TrimRight(name, " \t")
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, transferEncodingName):
			if http11 {
				// net/http takes only "chunked" (and refuses the rest).
				f.chunked = true
				if !bytes.EqualFold(value, chunkedToken) {
					f.bad = true
				}
			}
		case bytes.EqualFold(name, contentLengthName):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (f.length != 0 && n != f.length) {
				f.bad = true
			}
			f.length = n
		case bytes.EqualFold(name, upgradeName):
			// The router drops "Upgrade: h2c" (stripUpgrade): no tunnel.
			f.tunnel = f.tunnel || !bytes.EqualFold(value, h2cToken)
		}
	}
	return f
}
