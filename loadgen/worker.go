package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// worker sends requests one after the other on its own connection.
type worker struct {
	r *Runner

	mu   sync.Mutex // guards conn (read by Runner.abort) and st (read by Snapshot)
	conn net.Conn   // nil between a broken connection and the next dial
	st   stats

	// Owned by the worker's goroutine.
	br    *bufio.Reader
	resp  response
	timer *time.Timer
	pacer *pacer // Rate runs, where the platform has one; set before the worker starts
}

// stats are one worker's counts.
type stats struct {
	ok, failed, aborted, dials int64
	hist                       histogram // Result.Latency
	corrected                  histogram // Result.CorrectedLatency, Rate runs only
	byColor                    map[string]*int64
	failures                   map[string]int64
}

// reset zeroes s.
func (s *stats) reset() {
	*s = stats{byColor: map[string]*int64{}, failures: map[string]int64{}}
}

func newWorker(r *Runner) *worker {
	t := time.NewTimer(time.Hour)
	t.Stop()
	w := &worker{
		r:     r,
		br:    bufio.NewReaderSize(nil, 16<<10),
		timer: t,
	}
	w.st.reset()
	if r.cfg.Rate > 0 {
		w.pacer = newPacer()
	}
	return w
}

func (w *worker) run() {
	defer w.closeConn()
	if w.pacer != nil {
		defer w.pacer.close()
	}
	for {
		due, ok := w.r.take(w.timer, w.pacer)
		if !ok {
			return
		}
		w.request(due)
	}
}

// request sends one request and reads its response, dialing first when the
// worker has no connection, and records the outcome. due is the request's
// scheduled send time for Rate runs, zero otherwise.
func (w *worker) request(due time.Time) {
	cfg := w.r.cfg
	start := time.Now()
	deadline := start.Add(cfg.Timeout)
	if w.conn == nil {
		if err := w.dial(deadline); err != nil {
			if w.fail(err, true) {
				w.r.wait(w.timer, dialBackoff)
			}
			return
		}
	}
	w.mu.Lock()
	if w.r.hard.Load() {
		w.st.aborted++
		w.mu.Unlock()
		return
	}
	err := w.conn.SetDeadline(deadline)
	w.mu.Unlock()
	if err == nil {
		_, err = w.conn.Write(cfg.request)
	}
	if err == nil {
		err = readResponse(w.br, cfg.colorName, &w.resp)
	}
	if err != nil {
		w.closeConn()
		w.fail(err, false)
		return
	}
	end := time.Now()
	ok := cfg.OKStatus(w.resp.status)
	w.mu.Lock()
	w.st.hist.record(end.Sub(start))
	if !due.IsZero() {
		w.st.corrected.record(end.Sub(due))
	}
	if n, found := w.st.byColor[string(w.resp.color)]; found {
		*n++
	} else {
		w.st.byColor[string(w.resp.color)] = new(int64(1))
	}
	var kind string
	if ok {
		w.st.ok++
	} else {
		kind = "status " + strconv.Itoa(w.resp.status)
		w.st.failed++
		w.st.failures[kind]++
	}
	w.mu.Unlock()
	if !ok {
		w.r.noteError(kind)
	}
	if !w.resp.keepAlive {
		w.closeConn()
	}
}

// dial opens the worker's connection (with TLS for https) by deadline.
func (w *worker) dial(deadline time.Time) error {
	cfg := w.r.cfg
	w.mu.Lock()
	w.st.dials++
	w.mu.Unlock()
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(w.r.hardCtx, "tcp", cfg.addr)
	if err != nil {
		return err
	}
	if cfg.tls != nil {
		tc := tls.Client(c, cfg.tls)
		_ = c.SetDeadline(deadline)
		if err := tc.HandshakeContext(w.r.hardCtx); err != nil {
			c.Close()
			return err
		}
		c = tc
	}
	w.mu.Lock()
	w.conn = c
	w.mu.Unlock()
	w.br.Reset(c)
	return nil
}

func (w *worker) closeConn() {
	w.mu.Lock()
	c := w.conn
	w.conn = nil
	w.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// fail records a request that ended in err. A timeout or cancellation caused
// by the end of the grace period counts as aborted, not failed. It reports
// whether the failure was counted as one.
func (w *worker) fail(err error, dialing bool) bool {
	kind := classify(err, dialing)
	w.mu.Lock()
	if w.r.hard.Load() && (kind == "timeout" || errors.Is(err, context.Canceled)) {
		w.st.aborted++
		w.mu.Unlock()
		return false
	}
	w.st.failed++
	w.st.failures[kind]++
	w.mu.Unlock()
	w.r.noteError(kind + ": " + err.Error())
	return true
}

// classify names the kind of a request error, as documented on
// Result.Failures.
func classify(err error, dialing bool) string {
	var pe *protocolError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return "protocol"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case dialing:
		return "dial"
	}
	return "other"
}
