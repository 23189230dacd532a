// Package router is the data plane of bluegreen: an HTTP reverse proxy with
// two listeners. The public one sends each request to the live color's
// upstreams (round-robin); the preview one sends it to the other color, so
// people can try a release before it goes live. Both answer the color path
// (default /deployment/color/) themselves with the live color.
//
// Routing table. Which color is live is an immutable table behind an
// atomic.Pointer. A request loads the table once, when it starts, and keeps
// what it found to the end; Switch stores a new table, which is the whole
// cut-over. Client connections belong to the listener, never to a color, so
// a switch closes nothing: a kept-alive connection simply sends its next
// request to the new color. The upstreams of each color are a second
// immutable value per color (SetUpstreams swaps it the same way). The
// request path takes no lock; it does a handful of atomic operations.
//
// Generations and drain. Each time a color becomes live it gets a new
// generation, which counts the public requests that started on it. The
// count, a "retired" bit and a "cancelled" bit share one atomic word:
// Switch sets the retired bit after storing the new table and reads the
// count in the same operation (InFlightAtSwap); a request that loaded the old
// table but had not counted itself yet sees the bit, does not count, and
// loads the new table. Once retired, the count only goes down, and the
// request that brings it to zero closes a channel, on which Drain.Wait
// blocks (no polling, and no lost wake-up: a closed channel stays closed).
// At the deadline Wait sets the cancelled bit, reading the count of requests
// still open, and cancels them: every forwarded request's record (call.go)
// is also its own cancellable context, which ends with the client's
// (router.Server's client-gone watch cancels it directly, net/http's
// request context through one AfterFunc) and is registered in a lock-free
// slot table of its generation; cancelling it aborts the upstream
// exchange, which ends a stream or an upgraded (WebSocket) connection, or
// answers 504 to a request still waiting for its response. A request
// counts as in flight until its handler returns, after its streamed body or
// upgraded connection ended.
//
// Client gone, and half-closed. A client is gone when a read of its
// connection fails (a reset) or a write of its answer fails; a connection
// that ends in the middle of a head or body is cut as well (the request is
// dropped, or refused for its broken body). An end of stream after a whole
// request (head and body) is a half-close (shutdown(SHUT_WR), nc -N), as
// haproxy takes it: the exchange goes on, the answer is written (and any
// complete request sent before the end is answered too), then the connection
// closes. A plain close looks the same to the router (TCP carries a FIN
// either way), so its request runs to its end; the answer meets the reset.
// Each data path does this: the event loop (readClient tells an end of
// stream from an error), router.Server's client-gone watch (an end of stream
// is not a client gone), and net/http's, whose background read would cancel
// the request at the end of stream: the replaying connection it reads holds
// that read until net/http aborts it.
//
// The seam. Bookkeeping (tables, generations, drains, counters) does not
// know how bytes move. It hands each request to an engine ("forward this
// request to this upstream"), whose hooks report the response status back.
//
// The event loop (Options.EventLoop, loop*_linux.go; serve's default on
// Linux) is the fastest data path: Options.EventLoops loops, each an epoll set
// of non-blocking client and upstream sockets served by one goroutine, so
// a request costs one read and one write on each side and no scheduler
// wake-up. It takes the requests router.Server's fast path takes (below),
// without a chunked body, plus the color path, and does the bookkeeping
// above with the same call records (the drain's cancellation reaches the
// loop through callEnder); a connection whose next request is anything
// else moves, with the bytes read so far, to the goroutine path. Plain
// heads it forwards line by line without net/http (rawhead.go:
// appendRawRequest writes the upstream's head straight from the client's,
// appendRawHead the client's from the upstream's, hop-by-hop lines
// dropped), with no allocation; any head outside that subset goes through
// http.ReadRequest and writeRequestHead, or http.ReadResponse, which are
// the reference the raw paths are tested and fuzzed against. Bodies pass
// through as framed (Content-Length, chunked with trailers, or until
// close, which it chunks for the client).
//
// The default engine (direct.go) forwards plain HTTP/1.x requests (GET,
// HEAD, POST, PUT, PATCH, DELETE, OPTIONS without Upgrade, Expect or
// request trailers) on the handler's own goroutine: it takes a kept-alive
// connection from a per-address pool of idle upstream connections (a
// buffered channel; dials when empty, moving to the color's next upstream
// when the connection is refused), writes the request line and headers
// itself with a pooled bufio.Writer (hop-by-hop headers removed, those
// named in Connection too, X-Forwarded-* set), streams the body (chunked
// when its length is unknown), reads the response with http.ReadResponse
// on a pooled bufio.Reader, copies the headers (minus hop-by-hop ones) and
// the body with a pooled 32 KiB buffer, flushing every write when the
// response is text/event-stream or has no length, and forwards trailers.
// There is no Transport goroutine and no hand-off between goroutines. The
// connection goes back to the pool only when the response was read to its
// end and neither side asked to close. A request that fails on a reused
// connection before any response byte is sent again once, on a fresh
// connection, if it had no body or is idempotent and its body was never
// read; otherwise it is answered 502. The upstream connection is closed
// when the request's context ends (drain deadline, client gone), which
// aborts the exchange at once.
//
// Everything else goes to the second engine (engine.go), a tuned
// httputil.ReverseProxy, which Options.ReverseProxyOnly makes the only
// one: Rewrite, pooled 32 KiB copy buffers, one shared http.Transport with
// a large idle pool per upstream, no compression, HTTP/1.1 to upstreams, a
// connect timeout, and a retry on the color's next upstream only when the
// connection could not even be opened (nothing sent, so safe for any
// method). ReverseProxy removes hop-by-hop headers (RFC 9110 section
// 7.6.1), handles 1xx responses, trailers, upgrades, and flushes streaming
// responses at once. A request with "Expect: 100-continue" gets exactly
// one 100 Continue, sent when the upstream asked for the body. With either
// engine the upstream sees the client's Host header (X-Forwarded-Host too),
// and X-Forwarded-For/-Proto.
//
// One head policy. vetHead (headcheck.go) is the check every request head
// meets, on every path and whatever its size: the head, target and header
// count limits (Options.MaxHeaderBytes, MaxURILength, MaxHeaders) and the
// framing refusals that stop request smuggling. The loop and the
// goroutine path apply it to each head they read; connections net/http
// serves get it from a headFollower (follow.go), fed the bytes net/http
// reads, which vets each head, follows each body to the next, and queues
// the verdicts the handler takes in order.
//
// Buffering (buffer.go). With Options.BufferRequests a request body is
// read whole (memory, then an unlinked temp file) before the upstream sees
// the request; the loop hands a connection whose body is still coming to
// the goroutine path for it. With Options.BufferResponses an answer with a
// length is read at the upstream's speed and handed to the client at its
// own: the loop's client output spills to a temp file, the direct engine
// spools the body before writing it.
//
// Counters. Per color, with atomics only: requests, in flight, status
// classes, the 502s the router generated, and a cumulative latency
// histogram (time to the upstream's response headers), read with
// Router.Stats; ColorStats.Sub and Histogram.Quantile turn two snapshots
// into a window's error ratio and percentiles.
package router
