package router

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
)

// writeRequest writes the request line, the headers (hop-by-hop ones
// removed, X-Forwarded-* set as the ReverseProxy engine sets them) and the
// body (chunked when its length is unknown), and flushes.
func (e *directEngine) writeRequest(bw *bufio.Writer, x *exchange) error {
	writeRequestHead(bw, x.req, x.c.up.addr, x.hasBody, e.fw)
	if x.hasBody {
		if err := e.writeBody(bw, x); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeRequestHead writes the head of r as sent to the upstream at addr:
// the request line, Host (addr when r has none), the headers (hop-by-hop
// ones removed, X-Forwarded-* set as the ReverseProxy engine sets them;
// trust keeps the client's) and the framing: r's Content-Length, chunked
// when a body has no length, "Content-Length: 0" for a POST, PUT or PATCH
// without one.
func writeRequestHead(bw *bufio.Writer, r *http.Request, addr string, hasBody bool, fw forwarding) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	if uri := r.RequestURI; uri != "" && uri[0] == '/' {
		bw.WriteString(uri)
	} else {
		bw.WriteString(r.URL.RequestURI())
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if r.Host != "" {
		bw.WriteString(r.Host)
	} else {
		bw.WriteString(addr)
	}
	bw.WriteString("\r\n")
	writeHeaders(bw, r, fw)
	switch {
	case !hasBody:
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), r.ContentLength, 10))
		bw.WriteString("\r\n")
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

// forwarding is how the engines pass the client's request headers on.
type forwarding struct {
	// trust keeps the client's forwarding headers (Options.TrustForwarded).
	trust bool
	// underscores keeps the headers whose names hold an underscore
	// (Options.UnderscoresInHeaders).
	underscores bool
}

// skipRequestHeader lists the request headers never copied as they are:
// hop-by-hop ones (RFC 9110 section 7.6.1), the framing the engine writes
// itself, and the forwarding headers it sets.
func skipRequestHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip", "Http2-Settings":
		return true
	}
	return false
}

// writeHeader writes one header line "k: v" with its CRLF; callers check
// that k and v are fit for a head.
func writeHeader(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

func writeHeaders(bw *bufio.Writer, r *http.Request, fw forwarding) {
	trust := fw.trust
	h := r.Header
	conn := h["Connection"]
	for k, vv := range h {
		if skipRequestHeader(k) || (conn != nil && listed(conn, k)) || (!fw.underscores && strings.IndexByte(k, '_') >= 0) {
			continue
		}
		for _, v := range vv {
			writeHeader(bw, k, v)
		}
	}
	// "TE: trailers" is the one hop-by-hop value forwarded, as ReverseProxy does.
	if listed(h["Te"], "trailers") {
		writeHeader(bw, "Te", "trailers")
	}

	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	host := r.Host
	if trust {
		if v := h["X-Forwarded-Host"]; len(v) > 0 {
			host = v[0]
		}
		if v := h["X-Forwarded-Proto"]; len(v) > 0 {
			proto = v[0]
		}
		for _, v := range h["Forwarded"] {
			writeHeader(bw, "Forwarded", v)
		}
	}
	if err == nil {
		bw.WriteString("X-Forwarded-For: ")
		if prior := h["X-Forwarded-For"]; trust && len(prior) > 0 {
			for _, p := range prior {
				bw.WriteString(p)
				bw.WriteString(", ")
			}
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
		if prior := h["X-Real-Ip"]; trust && len(prior) > 0 {
			writeHeader(bw, "X-Real-Ip", prior[0])
		} else {
			writeHeader(bw, "X-Real-Ip", ip)
		}
	}
	writeHeader(bw, "X-Forwarded-Host", host)
	writeHeader(bw, "X-Forwarded-Proto", proto)
}

// writeBody streams the client's body to the upstream. A failure to read
// the client's body sets x.bodyErr.
func (e *directEngine) writeBody(bw *bufio.Writer, x *exchange) error {
	r := x.req
	x.bodyRead = true
	buf := e.buffers.Get()
	defer e.buffers.Put(buf)
	var dst io.Writer = bw
	var cw io.WriteCloser
	if r.ContentLength < 0 {
		cw = httputil.NewChunkedWriter(bw)
		dst = cw
	}
	var n int64
	for {
		m, rerr := r.Body.Read(buf)
		if m > 0 {
			n += int64(m)
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			x.bodyErr = true
			return rerr
		}
	}
	if r.ContentLength > 0 && n != r.ContentLength {
		x.bodyErr = true
		if x.c.Err() == nil {
			x.c.badBody.Store(true)
		}
		return io.ErrUnexpectedEOF
	}
	if cw != nil {
		cw.Close() // the last chunk: "0\r\n"
		bw.WriteString("\r\n")
	}
	return nil
}

// skipResponseHeader lists the hop-by-hop response headers (RFC 9110
// section 7.6.1); Trailer is announced again by respond.
func skipResponseHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "X-Accel-Buffering":
		return true
	}
	return false
}

func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if skipResponseHeader(k) || (conn != nil && listed(conn, k)) {
			continue
		}
		dst[k] = vv
	}
}

// noSniff keeps net/http's ResponseWriter from adding a Content-Type the
// upstream did not send (it sniffs the body when the key is absent; a nil
// value is written as nothing): a proxy must not change the message, and a
// guessed text/html can make untyped content run as a page.
func noSniff(h http.Header) {
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}

// finalHeader makes h, copied from the upstream's response, fit to send
// with status: no sniffed Content-Type (noSniff), and no Content-Length
// with a 204 (RFC 9110 section 8.6: an upstream may send one; a 204 has
// no body, so it must not be passed on).
func finalHeader(h http.Header, status int) {
	noSniff(h)
	if status == http.StatusNoContent {
		delete(h, "Content-Length")
	}
}

// respond forwards the response: 1xx informational responses, the head,
// the body (flushed per write when streaming), the trailers; then it
// returns the connection to the pool when it can be reused. A body that
// breaks mid-way aborts the handler with http.ErrAbortHandler, as
// ReverseProxy does.
func (e *directEngine) respond(w http.ResponseWriter, x *exchange, res *http.Response) {
	c := x.c
	dst := w.Header()
	for res.StatusCode < 200 {
		if res.StatusCode == http.StatusSwitchingProtocols {
			x.abandon()
			c.fail(w, errUnexpected101)
			return
		}
		copyResponseHeader(dst, res.Header)
		w.WriteHeader(res.StatusCode)
		clear(dst)
		var err error
		if res, err = readUpstreamResponse(x.br, x.req); err != nil {
			x.abandon()
			c.fail(w, err)
			return
		}
	}
	copyResponseHeader(dst, res.Header)
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	finalHeader(dst, res.StatusCode)
	c.responded(res.StatusCode, dst)
	w.WriteHeader(res.StatusCode)

	var flusher http.Flusher
	eventStream := strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	if eventStream || res.ContentLength < 0 {
		flusher, _ = w.(http.Flusher)
	}
	if flusher != nil && (eventStream || announced > 0) {
		flusher.Flush() // the head at once (and chunked framing for trailers)
	}
	if x.req.Method != http.MethodHead && c.rt.buffered(res.ContentLength, noBuffering(res.Header)) {
		// Read the answer at the app's speed, give the connection back,
		// then hand the answer to the client at its own.
		sp, err := spoolBody(res.Body, c.rt.opts.BufferMemory, c.rt.opts.TempDir)
		if err != nil {
			c.log(slog.LevelWarn, "upstream response body broken", err)
			x.abandon()
			panic(http.ErrAbortHandler)
		}
		defer sp.Close()
		x.finish(res)
		buf := e.buffers.Get()
		err = copyBody(w, sp, buf, nil)
		e.buffers.Put(buf)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	buf := e.buffers.Get()
	err := copyBody(w, res.Body, buf, flusher)
	e.buffers.Put(buf)
	if err != nil {
		x.abandon()
		panic(http.ErrAbortHandler)
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			dst[k] = vv
		}
	} else {
		for k, vv := range res.Trailer {
			dst[http.TrailerPrefix+k] = vv
		}
	}
	x.finish(res)
}

// copyBody copies the response body to the client, flushing after each
// write when f is not nil.
func copyBody(w io.Writer, body io.Reader, buf []byte, f http.Flusher) error {
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if f != nil {
				f.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
