package router

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

// This file fuzzes the router's request-side parsers of untrusted bytes:
// vetHead and framingOf (the one head policy), chunkScanner and
// headFollower. Each target checks properties against net/http, the
// reference the router stands beside: it parses the requests that the
// follower vets on the connections it serves. The committed seed corpus
// is under testdata/fuzz/<FuzzName>/.

// smallLimits are head limits a fuzzer reaches with short inputs.
var smallLimits = headLimits{maxBytes: 256, maxURI: 32, maxHeaders: 4}

// fuzzLimits picks the limits of a fuzz run.
func fuzzLimits(small bool) headLimits {
	if small {
		return smallLimits
	}
	return headLimits{}.withDefaults()
}

// knownVerdicts are every verdict vetHead may give.
var knownVerdicts = []headVerdict{{}, verdictTooLarge, verdictTooMany, verdictLongURI,
	verdictFraming, verdictBadField, verdictAuthority}

// fuzzHeads are request heads (and whole requests) the targets start
// from, besides headCases and rawRequests.
func fuzzHeads() []string {
	heads := []string{
		smuggle(""),
		smuggle(bigHeader),
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/0.9\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	}
	for _, tc := range headCases {
		heads = append(heads, tc.raw)
	}
	for _, tc := range rawRequests {
		heads = append(heads, tc.head)
	}
	return heads
}

// FuzzVetHead holds vetHead and framingOf to their contracts on any
// head: vetHead gives one of its verdicts (0, 400, 414, 431) and 431 to
// a head over the size limit; and for a head it lets through, framingOf
// reads the framing net/http reads: the same Content-Length or chunked,
// "bad" only for a head http.ReadRequest refuses, and a tunnel wherever
// net/http's request is a CONNECT or asks for an upgrade.
//
// The legitimate differences: for a version other than HTTP/1.x,
// framingOf may read a framing net/http does not (HTTP/0.9 with
// Transfer-Encoding, which http.ReadRequest ignores there, is chunked or
// "bad" to framingOf; the HTTP/2
// preface "PRI * HTTP/2.0", whose body it reads to the connection's
// end). net/http's server answers 505 to all but the preface, and closes
// after the preface's answer: nothing follows such a head either way.
// Where framingOf is not "bad" but http.ReadRequest refuses the
// head (e.g. "Content-Length: +5"), net/http answers 400 and closes:
// nothing is checked there either.
func FuzzVetHead(f *testing.F) {
	for _, h := range fuzzHeads() {
		f.Add(h, false)
		f.Add(h, true)
	}
	f.Fuzz(func(t *testing.T, head string, small bool) {
		lim := fuzzLimits(small)
		v := vetHead([]byte(head), lim)
		known := false
		for _, k := range knownVerdicts {
			known = known || v == k
		}
		if !known {
			t.Fatalf("%q: verdict %+v is none of vetHead's", head, v)
		}
		if len(head) > lim.maxBytes && v != verdictTooLarge {
			t.Fatalf("%.80q: %d bytes over the limit %d, verdict %d", head, len(head), lim.maxBytes, v.status)
		}
		n := headEnd([]byte(head))
		if n == 0 || v.status != 0 {
			return
		}
		// The head as headFollower gives it to framingOf.
		raw := []byte(head[:n])
		fr := framingOf(raw)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		if req.ProtoMajor != 1 {
			return // the server answers and closes: see above
		}
		if fr.bad {
			t.Fatalf("%q: framingOf says net/http refuses it, but http.ReadRequest reads %s %s length %d %v",
				head, req.Method, req.RequestURI, req.ContentLength, req.TransferEncoding)
		}
		if fr.chunked {
			if !reflect.DeepEqual(req.TransferEncoding, []string{"chunked"}) || req.ContentLength != -1 {
				t.Fatalf("%q: framingOf says chunked, http.ReadRequest reads length %d %q",
					head, req.ContentLength, req.TransferEncoding)
			}
		} else if len(req.TransferEncoding) != 0 || req.ContentLength != fr.length {
			t.Fatalf("%q: framingOf says length %d, http.ReadRequest reads length %d %q",
				head, fr.length, req.ContentLength, req.TransferEncoding)
		}
		if req.Method == http.MethodConnect && !fr.tunnel {
			t.Fatalf("%q: a CONNECT, but framingOf sees no tunnel", head)
		}
		for _, u := range req.Header["Upgrade"] {
			if !strings.EqualFold(strings.TrimSpace(u), "h2c") && !fr.tunnel {
				t.Fatalf("%q: net/http reads Upgrade %q, but framingOf sees no tunnel", head, u)
			}
		}
	})
}

// pieces cuts b where cuts say: each byte of cuts is the length, less
// one, of the next piece; what is left after the last is the last piece.
func pieces(b, cuts []byte) [][]byte {
	var out [][]byte
	for _, c := range cuts {
		if len(b) == 0 {
			break
		}
		n := min(int(c)+1, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// scanned is a chunkScanner's result over a whole input.
type scanned struct {
	n   int // bytes of the body, when it ended; else all scanned
	end bool
	err bool
}

// scanPieces runs a new chunkScanner over the pieces in turn, as reads
// give them, up to the end of the body or an error.
func scanPieces(ps [][]byte) scanned {
	var s chunkScanner
	total := 0
	for _, p := range ps {
		n, end, err := s.scan(p)
		if err != nil {
			return scanned{err: true}
		}
		if n < 0 || n > len(p) || !end && n != len(p) {
			return scanned{n: -1} // cannot be; the caller reports it
		}
		total += n
		if end {
			return scanned{n: total, end: true}
		}
	}
	return scanned{n: total}
}

// FuzzChunkScanner holds chunkScanner to net/http's chunked reading.
// Fed in one piece or in pieces cut where the fuzzer says, it finds the
// same end (or the same error). Where both it and net/http read a whole
// body (the chunks through the last, zero-size one, then the trailer to
// its blank line), they end at the same byte, with the same data; and
// where net/http reads a whole body, the scanner does not go on past its
// end (it ends there or fails).
//
// The scanner is more lenient than net/http in places: anything after
// the size up to CR counts as an extension ("4 x"), a size line may be
// any length, overhead is not limited, and trailer lines are not parsed
// as fields. Where net/http then fails the body, it closes the
// connection, so where the scanner went after does not matter: such
// inputs are only checked to scan the same in pieces. The reverse (the
// scanner failing where net/http reads a body, e.g. a bare LF in a
// trailer line) only closes the connection early: the follower stops and
// nothing after is served unvetted.
func FuzzChunkScanner(f *testing.F) {
	for _, b := range []string{
		"4\r\nWiki\r\n6;name=v\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
		"0\r\n\r\n",
		"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"5\r\nGET /\r\n0\r\nX-T: 1\r\n\r\n",
		"1f\r\nGET /smuggled HTTP/1.0\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
		"4 x\r\nWiki\r\n0\r\n\r\n",
		"4\nWiki\r\n0\r\n\r\n",
		"4\r\nWikiX\r\n",
		"0\r\nX-A: 1\n\r\n",
		"fffffffffffffff\r\n",
		"10000000000000000\r\n",
		"000000000000000000004\r\nWiki\r\n0\r\n\r\n",
		"A\r\n0123456789\r\n0;ext=\"q\"\r\n\r\n",
		"4\r\nWiki\r\n0\r\nX: 1\r\n",
	} {
		f.Add([]byte(b), []byte{})
		f.Add([]byte(b), []byte{0, 1, 2, 3, 4, 5, 6, 7})
	}
	f.Fuzz(func(t *testing.T, body, cuts []byte) {
		whole := scanPieces([][]byte{body})
		cut := scanPieces(pieces(body, cuts))
		if whole.n < 0 || cut.n < 0 {
			t.Fatalf("%q: scan counted more bytes than it was given, or stopped early", body)
		}
		if whole != cut {
			t.Fatalf("%q: in one piece %+v, in pieces %v %+v", body, whole, pieces(body, cuts), cut)
		}
		ref, refEnd, refOK := readChunked(body)
		switch {
		case refOK && !whole.err && (!whole.end || whole.n != refEnd):
			t.Fatalf("%q: net/http reads a body of %d bytes, the scanner %+v", body, refEnd, whole)
		case whole.end && refOK:
			got, _, ok := readChunked(body[:whole.n])
			if !ok || !bytes.Equal(got, ref) {
				t.Fatalf("%q: the body the scanner found reads as %q (%v), the whole input as %q", body, got, ok, ref)
			}
		}
	})
}

// readChunked reads a chunked body from the start of b as net/http's
// server does (the chunks, then the trailer: body.readTrailer): the data,
// the bytes the body took, and whether it read it all without error.
func readChunked(b []byte) (data []byte, n int, ok bool) {
	r := bytes.NewReader(b)
	br := bufio.NewReader(r)
	data, err := io.ReadAll(httputil.NewChunkedReader(br))
	if err != nil {
		return nil, 0, false
	}
	if two, _ := br.Peek(2); string(two) == "\r\n" {
		br.Discard(2)
	} else if !seeDoubleCRLF(br) {
		return nil, 0, false
	} else if _, err := textproto.NewReader(br).ReadMIMEHeader(); err != nil {
		return nil, 0, false
	}
	return data, len(b) - r.Len() - br.Buffered(), true
}

// seeDoubleCRLF is net/http's check that a trailer ends within the
// reader's buffer (seeUpcomingDoubleCRLF).
func seeDoubleCRLF(r *bufio.Reader) bool {
	for peekSize := 4; ; peekSize++ {
		buf, err := r.Peek(peekSize)
		if bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// FuzzHeadFollower holds headFollower to its contract on any byte
// stream: fed in pieces cut where the fuzzer says or in one piece, it
// queues the same verdicts and ends in the same state; it never keeps
// more than the head limit between reads (nor more than headMemory of
// buffer once a head is done); and its verdicts line up with the
// requests net/http's server parses from the same stream: the i-th
// verdict is vetHead's (and framingOf's "last") on the i-th head
// net/http reads, up to the first verdict after which the connection
// closes.
func FuzzHeadFollower(f *testing.F) {
	keepAlive := "POST /one HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /two HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Transfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\nX-T: 1\r\n\r\n" +
		"GET /three HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /four HTTP/1.1\r\nHost: x\r\n\r\n"
	streams := append(fuzzHeads(), keepAlive,
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: 1\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\nCONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	)
	for _, s := range streams {
		f.Add([]byte(s), []byte{}, false)
		f.Add([]byte(s), []byte{0, 15, 255, 3}, true)
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte, small bool) {
		lim := fuzzLimits(small)
		one := newHeadFollower(lim)
		one.feed(stream)
		ps := pieces(stream, cuts)
		cut := newHeadFollower(lim)
		for _, p := range ps {
			cut.feed(p)
			if len(cut.head) > lim.maxBytes {
				t.Fatalf("%.80q: the follower keeps %d bytes of head between reads, over the limit %d", stream, len(cut.head), lim.maxBytes)
			}
			if len(cut.head) == 0 && cap(cut.head) > headMemory {
				t.Fatalf("%.80q: the follower keeps a %d-byte buffer with no head in it", stream, cap(cut.head))
			}
		}
		if !reflect.DeepEqual(one.verdicts, cut.verdicts) {
			t.Fatalf("%q: verdicts in one piece %v, in pieces %q %v", stream, one.verdicts, ps, cut.verdicts)
		}
		if one.state != cut.state || one.left != cut.left || one.chunks != cut.chunks || !bytes.Equal(one.head, cut.head) {
			t.Fatalf("%q: ends in state %d %d %+v %q in one piece, %d %d %+v %q in pieces %q", stream,
				one.state, one.left, one.chunks, one.head, cut.state, cut.left, cut.chunks, cut.head, ps)
		}
		checkFollowerAgainstServer(t, stream, lim, one.verdicts, one.state == followStopped)
	})
}

// checkFollowerAgainstServer parses stream as net/http's server does
// (readRequest, then the body, then the next) and checks that verdicts
// holds, for each request it parses in turn, the verdict on its head,
// until one after which the connection closes. stopped says the
// follower stopped (then verdicts may end early).
func checkFollowerAgainstServer(t *testing.T, stream []byte, lim headLimits, verdicts []followed, stopped bool) {
	t.Helper()
	r := bytes.NewReader(stream)
	br := bufio.NewReader(r)
	pos := func() int { return len(stream) - r.Len() - br.Buffered() }
	lastMethod := ""
	for i := 0; ; i++ {
		if lastMethod == http.MethodPost {
			// RFC 7230 section 3 tolerance, as net/http's server.
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			br.Discard(n)
		}
		start := pos()
		req, err := http.ReadRequest(br)
		if err != nil {
			return // the server answers 400 (or nothing) and closes
		}
		head := stream[start:pos()]
		if i >= len(verdicts) && stopped {
			// The follower stopped within the last body (e.g. a
			// trailer line net/http reads and the chunkScanner does
			// not): take refuses the request, and the connection
			// closes.
			return
		}
		if i >= len(verdicts) {
			t.Fatalf("%q: net/http parses request %d (%q), the follower queued %d verdicts %v",
				stream, i+1, head, len(verdicts), verdicts)
		}
		v := vetHead(head, lim)
		fr := framingOf(head)
		want := followed{v, v.status != 0 || fr.tunnel || fr.bad}
		if verdicts[i] != want {
			t.Fatalf("%q: request %d (%q): the follower's verdict %+v, want %+v", stream, i+1, head, verdicts[i], want)
		}
		if want.last || req.ProtoMajor != 1 {
			// The connection closes after the answer (505, or the
			// answer to the HTTP/2 preface, whose body is the rest of
			// the connection).
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return // a bad or cut body: net/http closes
		}
		lastMethod = req.Method
	}
}
