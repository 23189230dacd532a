package router

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// engine moves the bytes of one request to one upstream and back. It is the
// seam between the router's bookkeeping (routes, generations, drains,
// counters), which does not care how bytes travel, and the forwarding,
// which a faster implementation may replace.
//
// Contract: c is r's call, naming the upstream (c.up) to use; engines that
// hand r to the standard library send it with c as its context (hooks find
// it with callFrom). forward must call c.responded with the final
// response status and headers before writing them to w, or c.fail when no
// response came (dial error, cancellation, body too large); it may move
// c.up to another upstream of c.pool when the first one refused the
// connection. forward returns when the exchange is over, including streamed
// bodies and upgraded connections; it may abort the handler with
// http.ErrAbortHandler when a response breaks mid-body.
type engine interface {
	forward(w http.ResponseWriter, r *http.Request, c *call)
	closeIdle()
}

// proxyEngine forwards with a tuned httputil.ReverseProxy over one shared
// http.Transport.
type proxyEngine struct {
	rp *httputil.ReverseProxy
	tr *http.Transport
	fw forwarding
}

// Transport tuning. The per-host idle pool must hold at least as many
// connections as there are concurrent clients, or every burst dials anew.
const (
	maxIdleConnsPerHost = 1024
	idleConnTimeout     = 90 * time.Second
	expectContinue      = time.Second
	copyBufferSize      = 32 << 10
)

func newProxyEngine(connectTimeout time.Duration, fw forwarding, log *slog.Logger) *proxyEngine {
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // never route through $HTTP_PROXY
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0, // no global cap: the per-host cap bounds each upstream
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		ExpectContinueTimeout: expectContinue,
		TLSHandshakeTimeout:   connectTimeout,
	}
	e := &proxyEngine{tr: tr, fw: fw}
	e.rp = &httputil.ReverseProxy{
		Rewrite:        e.rewrite,
		Transport:      failover{tr},
		BufferPool:     &bufferPool{},
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ErrorHandler:   e.errorHandler,
		ModifyResponse: e.modifyResponse,
	}
	return e
}

func (e *proxyEngine) forward(w http.ResponseWriter, r *http.Request, c *call) {
	r = r.WithContext(c)
	expect := r.ContentLength != 0 && r.Header["Expect"] != nil && strings.EqualFold(r.Header.Get("Expect"), "100-continue")
	e.rp.ServeHTTP(proxyWriter{w, expect}, r)
}

// proxyWriter is the ResponseWriter ReverseProxy writes to. It keeps
// net/http from adding a Content-Type the upstream did not send and drops
// a 204's Content-Length (finalHeader). With dropContinue it drops the
// upstream's "100 Continue" that ReverseProxy forwards: the client still
// gets exactly one, as net/http sends its own when the transport starts
// reading the request body, which happens after the upstream's 100 (or
// ExpectContinueTimeout); forwarding the upstream's too races with that
// and can send two. If the upstream answers with a final status instead,
// the body is never read and no 100 is sent, as RFC 9110 section 10.1.1
// intends. Other 1xx responses pass through.
type proxyWriter struct {
	http.ResponseWriter
	dropContinue bool
}

func (w proxyWriter) WriteHeader(code int) {
	if code == http.StatusContinue && w.dropContinue {
		return
	}
	if code >= 200 {
		finalHeader(w.Header(), code)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w proxyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (e *proxyEngine) closeIdle() { e.tr.CloseIdleConnections() }

// Precomputed header values, shared read-only by all requests.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

func (e *proxyEngine) rewrite(pr *httputil.ProxyRequest) {
	c := callFrom(pr.Out.Context())
	out, in := pr.Out, pr.In
	out.URL.Scheme = "http"
	out.URL.Host = c.up.addr
	// out.Host stays in.Host: the application sees the public host name.
	// The query goes as the client sent it, as on the other paths:
	// ReverseProxy drops the parameters Go's parser refuses (a ";", a bad
	// escape) before Rewrite, and the app would get another request than
	// the one sent.
	out.URL.RawQuery = in.URL.RawQuery

	// Request trailers arrive in in.Trailer when the body reaches EOF, which
	// happens in the transport's goroutine before it writes the trailers;
	// sharing the map forwards their values (Clone copied only the keys).
	if in.Trailer != nil {
		out.Trailer = in.Trailer
	}

	// X-Forwarded-*, like ProxyRequest.SetXForwarded, with fewer allocations.
	// ReverseProxy already removed the client's values from out.
	h := out.Header
	ip, _, err := net.SplitHostPort(in.RemoteAddr)
	proto := protoHTTP
	if in.TLS != nil {
		proto = protoHTTPS
	}
	vals := new([2]string) // one allocation for both values
	vals[1] = in.Host
	if !e.fw.underscores {
		for k := range h {
			if strings.IndexByte(k, '_') >= 0 {
				delete(h, k)
			}
		}
	}
	delete(h, "Http2-Settings")
	realIP := ip
	if v := in.Header["X-Real-Ip"]; e.fw.trust && len(v) > 0 {
		realIP = v[0]
	}
	if e.fw.trust {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 && err == nil {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		if v := in.Header["X-Forwarded-Host"]; len(v) > 0 {
			vals[1] = v[0]
		}
		if v := in.Header["X-Forwarded-Proto"]; len(v) > 0 {
			proto = v[:1:1]
		}
		if v := in.Header["Forwarded"]; len(v) > 0 {
			h["Forwarded"] = v[:len(v):len(v)]
		}
	}
	if err == nil {
		vals[0] = ip
		h["X-Forwarded-For"] = vals[0:1:1]
		h["X-Real-Ip"] = []string{realIP}
	}
	h["X-Forwarded-Host"] = vals[1:2:2]
	h["X-Forwarded-Proto"] = proto
}

func (e *proxyEngine) modifyResponse(res *http.Response) error {
	if res.Request == nil {
		return nil
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		return errBadStatus // ReverseProxy answers through errorHandler: 502
	}
	if c := callFrom(res.Request.Context()); c != nil {
		c.responded(res.StatusCode, res.Header)
	}
	return nil
}

func (e *proxyEngine) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	c := callFrom(r.Context())
	if c == nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	c.fail(w, err)
}

// failover retries a request on the color's other upstreams when the
// connection to the chosen one could not even be opened. Nothing was sent
// then, so this is safe for any method. The transport closes the request
// body when it fails, so a body is handed to it behind a wrapper that
// ignores Close (ReverseProxy closes the real one) and notes any read.
type failover struct{ rt http.RoundTripper }

func (f failover) RoundTrip(req *http.Request) (*http.Response, error) {
	c := callFrom(req.Context())
	if c == nil || c.pool == nil || len(c.pool.ups) < 2 {
		return f.rt.RoundTrip(req)
	}
	var body *retryBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &retryBody{rc: req.Body}
		r2 := new(http.Request)
		*r2 = *req
		r2.Body = body
		req = r2
	}
	res, err := f.rt.RoundTrip(req)
	n := uint64(len(c.pool.ups))
	for i := uint64(1); i < n && err != nil && isDialError(err) && req.Context().Err() == nil; i++ {
		if body != nil && body.read.Load() {
			break
		}
		c.up = c.pool.ups[(c.seq+i)%n]
		retry := new(http.Request)
		*retry = *req
		u := *req.URL
		u.Host = c.up.addr
		retry.URL = &u
		res, err = f.rt.RoundTrip(retry)
	}
	return res, err
}

// retryBody lets a request body survive a failed dial.
type retryBody struct {
	rc   io.ReadCloser
	read atomic.Bool // set by the transport's writer goroutine
}

func (b *retryBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

func (b *retryBody) Close() error { return nil }

// isDialError reports whether err says a connection could not be opened
// (refused, unreachable, or not open within the connect timeout).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies with.
// It stores array pointers so that Put does not allocate.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (b *bufferPool) Put(s []byte) {
	if cap(s) < copyBufferSize {
		return
	}
	b.p.Put((*[copyBufferSize]byte)(s[:copyBufferSize]))
}
