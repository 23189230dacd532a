// Package check runs health checks against a color's upstreams and turns
// their results into a verdict with thresholds.
package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen/internal/sched"
)

// HTTPSpec says how to health-check one upstream over HTTP.
type HTTPSpec struct {
	// Path is requested with GET, e.g. "/healthz".
	Path string
	// Status is the expected response status.
	Status int
	// Interval is the time between two rounds of checks.
	Interval time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
	// HealthyThreshold is how many consecutive passing rounds make a color
	// healthy; UnhealthyThreshold how many failing rounds make it unhealthy.
	HealthyThreshold, UnhealthyThreshold int
}

// prober performs health GETs on the caller's goroutine over kept-alive
// connections: a switch waits for a fresh round, and on a busy machine each
// goroutine hand-off (net/http's Transport makes three per request) costs a
// run-queue wait. It keeps a few idle connections per upstream. A prober is
// safe for concurrent use.
type prober struct {
	dialer net.Dialer
	now    func() time.Time
	mu     sync.Mutex
	idle   map[string][]idleConn
}

type idleConn struct {
	net.Conn
	since time.Time
}

// maxIdlePerUpstream bounds the idle connections kept per upstream, and
// maxIdleTime how long one is kept (servers close idle connections too).
const (
	maxIdlePerUpstream = 2
	maxIdleTime        = 30 * time.Second
)

// probe performs one GET of spec.Path on the upstream host:port with
// spec.Timeout and returns nil when it answers spec.Status. The error names
// the upstream, the path and what went wrong. A request that fails on a
// reused connection before any response byte is sent again, once, on a new
// connection (the upstream may have closed it while idle).
func (p *prober) probe(ctx context.Context, upstream string, spec HTTPSpec) error {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+upstream+spec.Path, nil)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", upstream, spec.Path, err)
	}
	req.Header.Set("User-Agent", "bluegreen-health")
	for attempt := 0; ; attempt++ {
		conn, reused := p.get(upstream)
		if conn == nil {
			if conn, err = p.dialer.DialContext(ctx, "tcp", upstream); err != nil {
				return p.fail(ctx, upstream, spec, err)
			}
		}
		status, retry, err := p.exchange(ctx, conn, req, reused)
		if err == nil {
			if status != spec.Status {
				return fmt.Errorf("%s: GET %s: status %d, want %d", upstream, spec.Path, status, spec.Status)
			}
			return nil
		}
		if !retry || attempt > 0 || ctx.Err() != nil || isTimeout(err) {
			return p.fail(ctx, upstream, spec, err)
		}
	}
}

// exchange sends req on conn and reads the response; conn is returned to
// the idle set when it can carry another request and closed otherwise.
// retry says whether the request failed on a reused connection before any
// response byte.
func (p *prober) exchange(ctx context.Context, conn net.Conn, req *http.Request, reused bool) (status int, retry bool, err error) {
	keep := false
	defer func() {
		if !keep {
			conn.Close()
		}
	}()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	bw := bufio.NewWriterSize(conn, 512)
	if err := req.Write(bw); err != nil {
		return 0, reused, err
	}
	if err := bw.Flush(); err != nil {
		return 0, reused, err
	}
	if sched.Raised(ctx) {
		// A switch waits for this answer on a thread of raised priority:
		// let the kernel wake that thread, not the runtime's poller.
		d, _ := ctx.Deadline()
		waitReadable(ctx, conn, d)
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	if _, err := br.Peek(1); err != nil {
		return 0, reused, err
	}
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return 0, false, err
	}
	// Drain a little so the connection can be reused; health bodies are small.
	n, err := io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if err == nil && n < 64<<10 && !res.Close && br.Buffered() == 0 && stop() {
		_ = conn.SetDeadline(time.Time{})
		keep = p.put(req.URL.Host, conn)
	}
	return res.StatusCode, false, nil
}

// waitReadable is sched.WaitReadable; tests count its calls.
var waitReadable = sched.WaitReadable

// fail words err for the verdict.
func (p *prober) fail(ctx context.Context, upstream string, spec HTTPSpec, err error) error {
	if d, ok := ctx.Deadline(); ctx.Err() == context.DeadlineExceeded || (ok && isTimeout(err) && !time.Now().Before(d)) {
		return fmt.Errorf("%s: GET %s: no answer within %s", upstream, spec.Path, spec.Timeout)
	}
	return fmt.Errorf("%s: GET %s: %v", upstream, spec.Path, err)
}

// isTimeout reports whether err is a deadline passing (the probe's own,
// set on the connection, or a dial's).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (p *prober) get(upstream string) (net.Conn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for conns := p.idle[upstream]; len(conns) > 0; conns = p.idle[upstream] {
		c := conns[len(conns)-1]
		p.idle[upstream] = conns[:len(conns)-1]
		if p.now().Sub(c.since) < maxIdleTime {
			return c.Conn, true
		}
		c.Close()
	}
	return nil, false
}

// put keeps conn for reuse and reports whether it did.
func (p *prober) put(upstream string, conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = make(map[string][]idleConn)
	}
	if len(p.idle[upstream]) >= maxIdlePerUpstream {
		return false
	}
	p.idle[upstream] = append(p.idle[upstream], idleConn{conn, p.now()})
	return true
}

// forget closes the idle connections of upstreams not in keep.
func (p *prober) forget(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u, conns := range p.idle {
		if keep[u] {
			continue
		}
		for _, c := range conns {
			c.Close()
		}
		delete(p.idle, u)
	}
}

// unwrapURLError drops net/url's "Get \"http://...\":" prefix, which
// repeats what the caller already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
