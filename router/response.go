package router

import (
	"bufio"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// fastResponse is the http.ResponseWriter of the fast path: an HTTP/1.1
// response with the handler's Content-Length, or chunked without one. It
// supports Flush (http.Flusher and FlushError) and read and write
// deadlines through http.ResponseController; not Hijack (upgrades are
// served by net/http). Unlike net/http it does not sniff a Content-Type:
// a proxy passes on what the upstream said.
type fastResponse struct {
	c      *fastConn
	req    *http.Request
	body   *fastBody // nil without a request body
	header http.Header
	bw     *bufio.Writer

	status      int  // the final status, once WriteHeader was called
	headWritten bool // the status line and headers are in bw
	bodyless    bool // HEAD, 204, 304: no body bytes
	chunked     bool
	length      int64 // declared Content-Length, or -1
	written     int64
	closeAfter  bool  // "Connection: close" was sent
	err         error // the first write error: the connection is broken
}

func (*fastResponse) ownWriter() {}

// newFastResponse starts the response to req on c. The header map is the
// connection's, cleared and reused for its next request: handlers must not
// keep it.
func newFastResponse(c *fastConn, req *http.Request, body *fastBody) *fastResponse {
	if c.header == nil {
		c.header = make(http.Header, 8)
	}
	return &fastResponse{c: c, req: req, body: body, header: c.header, bw: getWriter(c.nc), length: -1}
}

// release returns the buffered writer to its pool and clears the header
// map for the connection's next request.
func (w *fastResponse) release() {
	putWriter(w.bw)
	clear(w.header)
}

func (w *fastResponse) Header() http.Header { return w.header }

// WriteHeader sends a 1xx informational response at once; a final status
// is kept until the first Write, Flush or the end of the handler.
func (w *fastResponse) WriteHeader(code int) {
	if w.status != 0 || w.err != nil {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeStatusLine(code)
		w.writeHeaderLines(skipInformationalHeader)
		w.bw.WriteString("\r\n")
		w.err = w.bw.Flush()
		return
	}
	w.status = code
}

func (w *fastResponse) writeStatusLine(code int) {
	w.bw.WriteString("HTTP/1.1 ")
	w.bw.Write(strconv.AppendInt(w.bw.AvailableBuffer(), int64(code), 10))
	w.bw.WriteByte(' ')
	w.bw.WriteString(http.StatusText(code))
	w.bw.WriteString("\r\n")
}

// writeHeaderLines writes the header map, skipping the keys in skip and
// any with a value that would break the head.
func (w *fastResponse) writeHeaderLines(skip func(string) bool) {
	for k, vv := range w.header {
		if skip != nil && skip(k) || !validHeaderName(k) {
			continue
		}
		for _, v := range vv {
			if validHeaderValue(v) {
				writeHeader(w.bw, k, v)
			}
		}
	}
}

// writeHead puts the status line and headers in bw and picks the framing.
// atEnd says the handler has returned, so a response without a declared
// length and without body bytes gets Content-Length: 0.
func (w *fastResponse) writeHead(atEnd bool) {
	if w.headWritten {
		return
	}
	w.headWritten = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.header
	w.bodyless = w.req.Method == http.MethodHead || w.status == http.StatusNoContent ||
		w.status == http.StatusNotModified || w.status < 200
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.length = n
		}
	}
	if w.length < 0 {
		delete(h, "Content-Length")
	}
	switch {
	case w.status == http.StatusNoContent || w.status < 200:
		delete(h, "Content-Length")
	case w.length >= 0 || w.req.Method == http.MethodHead || w.status == http.StatusNotModified:
	case atEnd && h["Trailer"] == nil:
		h["Content-Length"] = zeroLength
		w.length = 0
	default:
		w.chunked = true
	}
	if w.req.Close || listed(h["Connection"], "close") || w.c.srv.down.Load() || w.c.srv.retiring.Load() || settleBody(w.body, w.req) {
		w.closeAfter = true
	}
	w.writeStatusLine(w.status)
	w.writeHeaderLines(skipFastResponseHeader)
	if _, set := h["Date"]; !set { // a nil value suppresses it, as in net/http
		writeHeader(w.bw, "Date", httpDate())
	}
	if w.chunked {
		w.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		w.bw.WriteString("Connection: close\r\n")
	}
	w.bw.WriteString("\r\n")
}

var zeroLength = []string{"0"}

// skipInformationalHeader keeps framing out of a 1xx response, which has
// no body (RFC 9110 section 8.6: no Content-Length).
func skipInformationalHeader(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection":
		return true
	}
	return false
}

// skipFastResponseHeader drops what the writer decides itself (framing,
// connection) and trailer values, which follow the body.
func skipFastResponseHeader(k string) bool {
	switch k {
	case "Transfer-Encoding", "Connection":
		return true
	}
	return strings.HasPrefix(k, http.TrailerPrefix)
}

var errBodyTooLong = errors.New("router: wrote more than the declared Content-Length")

func (w *fastResponse) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.headWritten {
		w.writeHead(false)
	}
	if w.bodyless {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		n, _ := w.write(p[:w.length-w.written])
		if w.err != nil {
			return n, w.err
		}
		return n, errBodyTooLong
	}
	return w.write(p)
}

func (w *fastResponse) write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.chunked {
		w.bw.Write(strconv.AppendInt(w.bw.AvailableBuffer(), int64(len(p)), 16))
		w.bw.WriteString("\r\n")
	}
	n, err := w.bw.Write(p)
	w.written += int64(n)
	if err == nil && w.chunked {
		_, err = w.bw.WriteString("\r\n")
	}
	if err != nil {
		w.err = err
		w.c.nc.Close()
	}
	return n, err
}

// Flush sends the head and what was written so far.
func (w *fastResponse) Flush() { _ = w.FlushError() }

// FlushError is Flush with the write error, for http.ResponseController.
func (w *fastResponse) FlushError() error {
	if w.err != nil {
		return w.err
	}
	if !w.headWritten {
		w.writeHead(false)
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		w.c.nc.Close()
	}
	return w.err
}

// SetReadDeadline and SetWriteDeadline are for http.ResponseController.
func (w *fastResponse) SetReadDeadline(t time.Time) error  { return w.c.nc.SetReadDeadline(t) }
func (w *fastResponse) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// finish ends the response after the handler: the head if nothing was
// written, the last chunk and trailers, the flush. It reports whether the
// connection can carry another request.
func (w *fastResponse) finish() bool {
	if w.err != nil {
		return false
	}
	if !w.headWritten {
		w.writeHead(true)
	}
	if w.chunked {
		w.bw.WriteString("0\r\n")
		w.writeTrailers()
		w.bw.WriteString("\r\n")
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		return false
	}
	// A body shorter than its Content-Length leaves the client waiting for
	// the rest: only closing tells it the response is over (and broken).
	return w.length < 0 || w.bodyless || w.written == w.length
}

// writeTrailers writes the values of the trailers announced in the
// "Trailer" header and of the keys set with http.TrailerPrefix.
func (w *fastResponse) writeTrailers() {
	for _, announced := range w.header["Trailer"] {
		for announced != "" {
			var k string
			k, announced, _ = strings.Cut(announced, ",")
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			for _, v := range w.header[k] {
				if validHeaderName(k) && validHeaderValue(v) {
					writeHeader(w.bw, k, v)
				}
			}
		}
	}
	for k, vv := range w.header {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || !validHeaderName(name) {
			continue
		}
		for _, v := range vv {
			if validHeaderValue(v) {
				writeHeader(w.bw, name, v)
			}
		}
	}
}

// validHeaderName and validHeaderValue keep a response head well formed
// whatever the handler (or the upstream, through it) put in the map.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if b := k[i]; b <= ' ' || b == ':' || b >= 0x7f {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// httpDate is the current time in the Date header's format, formatted
// once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]
