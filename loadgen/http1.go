package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// This file is a minimal HTTP/1.x response reader: just enough to find the
// status, the color header and the end of the body, without allocating.
// net/http's Transport is not used on purpose: it silently retries a GET whose
// kept-alive connection was closed before the response (the very failure a
// blue-green switch must not cause), and its two goroutines per connection
// cost CPU that the router under test needs.

// protocolError reports a response that is not valid HTTP/1.x.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "malformed response: " + e.msg }

// response is what a worker learns from one response. Its color buffer is
// reused from one response to the next.
type response struct {
	status    int
	keepAlive bool   // the connection may carry the next request
	color     []byte // value of the color header; empty when missing

	minor         byte  // HTTP/1.minor
	contentLength int64 // -1 when absent
	chunked       bool  // Transfer-Encoding ends with chunked
	otherTE       bool  // Transfer-Encoding present but not chunked
	connClose     bool  // Connection: close
	connKeepAlive bool  // Connection: keep-alive (matters for HTTP/1.0)
}

// readResponse reads one whole response from br into r, discarding the body.
// colorName is the color header's name. It skips interim 1xx responses. An
// error means the connection cannot be reused; it wraps io.EOF or
// io.ErrUnexpectedEOF when the peer closed early, *protocolError for a
// malformed response, or the read error.
func readResponse(br *bufio.Reader, colorName []byte, r *response) error {
	for {
		if err := readHead(br, colorName, r); err != nil {
			return err
		}
		if r.status < 100 || r.status > 199 || r.status == 101 {
			break
		}
	}
	readToClose := false
	switch {
	case r.status < 200, r.status == 204, r.status == 304:
		// No body.
	case r.chunked:
		if err := discardChunked(br); err != nil {
			return err
		}
	case r.otherTE || r.contentLength < 0:
		readToClose = true
		for {
			_, err := br.Discard(32 << 10)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
	default:
		if err := discard(br, r.contentLength); err != nil {
			return err
		}
	}
	r.keepAlive = !readToClose && !r.connClose && (r.minor >= 1 || r.connKeepAlive)
	return nil
}

// readHead reads a status line and headers.
func readHead(br *bufio.Reader, colorName []byte, r *response) error {
	line, err := readLine(br)
	if err != nil {
		return err // io.EOF here: closed before any byte of a response
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') || !isDigit(line[7]) {
		return &protocolError{"bad status line " + quote(line)}
	}
	r.minor = line[7] - '0'
	r.status = 0
	for _, c := range line[9:12] {
		if !isDigit(c) {
			return &protocolError{"bad status line " + quote(line)}
		}
		r.status = r.status*10 + int(c-'0')
	}
	r.color = r.color[:0]
	r.contentLength = -1
	r.chunked, r.otherTE, r.connClose, r.connKeepAlive = false, false, false, false
	for {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete line folding: a continuation we do not need
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return &protocolError{"bad header line " + quote(line)}
		}
		name, value := line[:i], bytes.Trim(line[i+1:], " \t")
		switch {
		case bytes.EqualFold(name, colorName):
			r.color = append(r.color[:0], value...)
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseUint(value, 10)
			if !ok || (r.contentLength >= 0 && n != r.contentLength) {
				return &protocolError{"bad Content-Length " + quote(value)}
			}
			r.contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			last := value[bytes.LastIndexByte(value, ',')+1:]
			r.chunked = bytes.EqualFold(bytes.Trim(last, " \t"), []byte("chunked"))
			r.otherTE = !r.chunked
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				r.connClose = r.connClose || bytes.EqualFold(tok, []byte("close"))
				r.connKeepAlive = r.connKeepAlive || bytes.EqualFold(tok, []byte("keep-alive"))
			}
		}
	}
}

// discardChunked reads a chunked body and its trailers.
func discardChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseUint(bytes.TrimRight(line, " \t"), 16)
		if !ok {
			return &protocolError{"bad chunk size " + quote(line)}
		}
		if size == 0 {
			for { // trailers, up to the empty line
				line, err := readLine(br)
				if err != nil {
					return noEOF(err)
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := discard(br, size); err != nil {
			return err
		}
		line, err = readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) != 0 {
			return &protocolError{"chunk longer than its size"}
		}
	}
}

// discard skips exactly n bytes.
func discard(br *bufio.Reader, n int64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		k, err := br.Discard(step)
		n -= int64(k)
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// readLine returns the next line without its line ending. The slice is valid
// until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, &protocolError{"header line longer than the read buffer"}
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: the response had started.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseUint parses a non-empty unsigned number of at most 15 digits.
func parseUint(b []byte, base int64) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d int64
		switch {
		case '0' <= c && c <= '9':
			d = int64(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = int64(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = int64(c-'A') + 10
		default:
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// quote shows at most 64 bytes of b in an error message.
func quote(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return "\"" + string(bytes.ToValidUTF8(b, []byte("?"))) + "\""
}
