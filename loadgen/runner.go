// Package loadgen is the load client that proves "zero dropped requests": it
// keeps a fixed number of kept-alive HTTP/1.1 connections busy against one URL
// and counts every request that did not end in an OK response, by kind (reset,
// EOF, timeout, refused, status ...), and every response by the color header
// that the router sets.
//
// Each worker owns exactly one connection at a time, like wrk -c: it writes a
// request, reads the whole response (the body is read to its end and thrown
// away) and reuses the connection; when the connection breaks it counts the
// failure and dials a new one for its next request. Nothing is retried. After
// a failed dial a worker pauses 10ms, so that a dead target (refused in
// microseconds) does not become a busy loop on the cores the router needs.
//
// With Options.Rate the load is open-loop: request n is due n/Rate after the
// start, whatever happened to the ones before, and is sent by the first free
// worker at its due time (or at once, if it is late because every worker was
// busy). Result.CorrectedLatency measures from the due time, so a slow
// response is also charged to the requests that queued behind it.
//
// The HTTP client is a small one of our own (see http1.go): net/http's
// Transport would retry a GET whose kept-alive connection was closed under it,
// hiding the failure this package exists to count, and it costs two goroutines
// per connection. The hot loop does not allocate.
package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is a load run in progress, started by Start. Its methods are safe for
// concurrent use.
type Runner struct {
	cfg     *config
	start   time.Time
	workers []*worker

	issued atomic.Int64  // requests started (tickets taken), for Requests and Rate
	since  atomic.Int64  // time of the last Reset, as an offset from start
	soft   atomic.Bool   // the run has ended: start no new request
	hard   atomic.Bool   // the grace has expired: requests in flight are being cut
	softCh chan struct{} // closed when soft is set

	stopOnce   sync.Once
	stopCh     chan struct{} // closed by Stop
	hardCtx    context.Context
	hardCancel context.CancelFunc
	done       chan struct{} // closed when every worker has exited
	end        time.Time     // written before done is closed

	errMu       sync.Mutex
	firstErrors []string
}

// Run sends load as configured by o and returns the result once the run has
// ended: Duration elapsed, Requests reached or ctx done, whichever comes first.
// With neither Duration nor Requests set it runs until ctx is done. Failed
// requests are counted in the Result, not returned; the error is non-nil only
// for invalid Options (code bluegreen.EINVALID).
func Run(ctx context.Context, o Options) (*Result, error) {
	r, err := Start(ctx, o)
	if err != nil {
		return nil, err
	}
	<-r.Done()
	return r.Stop(), nil
}

// Start validates o and starts the workers; it returns at once. The run ends
// when Duration elapses, Requests is reached, ctx is done or Stop is called;
// the caller must call Stop eventually to learn the result (and, for an
// unbounded run, to end it). The error is non-nil only for invalid Options
// (code bluegreen.EINVALID).
func Start(ctx context.Context, o Options) (*Runner, error) {
	cfg, err := newConfig(o)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		cfg:    cfg,
		start:  time.Now(),
		softCh: make(chan struct{}),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	r.hardCtx, r.hardCancel = context.WithCancel(context.WithoutCancel(ctx))
	if ctx.Err() != nil {
		r.endSoft()
	}
	var wg sync.WaitGroup
	for range cfg.Connections {
		w := newWorker(r)
		r.workers = append(r.workers, w)
		wg.Go(w.run)
	}
	workersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(workersDone)
	}()
	go r.supervise(ctx, workersDone)
	return r, nil
}

// supervise ends the run: it stops new requests when the run is over, gives
// those in flight Grace to finish, cuts the rest and closes done.
func (r *Runner) supervise(ctx context.Context, workersDone <-chan struct{}) {
	var deadline <-chan time.Time
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-ctx.Done():
	case <-deadline:
	case <-r.stopCh:
	case <-workersDone: // Requests reached
	}
	r.endSoft()
	grace := time.NewTimer(r.cfg.Grace)
	select {
	case <-workersDone:
	case <-grace.C:
		r.abort()
		<-workersDone
	}
	grace.Stop()
	r.hardCancel()
	r.end = time.Now()
	close(r.done)
}

func (r *Runner) endSoft() {
	if r.soft.CompareAndSwap(false, true) {
		close(r.softCh)
		for _, w := range r.workers {
			if w.pacer != nil {
				w.pacer.interrupt()
			}
		}
	}
}

// abort cuts the requests still in flight: it cancels dials and moves every
// connection's deadline to the past, so blocked reads and writes fail now.
func (r *Runner) abort() {
	r.hard.Store(true)
	r.hardCancel()
	past := time.Unix(1, 0)
	for _, w := range r.workers {
		w.mu.Lock()
		if w.conn != nil {
			_ = w.conn.SetDeadline(past)
		}
		w.mu.Unlock()
	}
}

// Done returns a channel that is closed when the run has ended and every
// worker has exited; Stop then returns at once.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Stop ends the run if it is still going (requests in flight get Grace to
// finish), waits for every worker to exit and returns the final result. It
// may be called more than once and concurrently; every call returns the same
// counts.
func (r *Runner) Stop() *Result {
	r.stopOnce.Do(func() { close(r.stopCh) })
	<-r.done
	res := r.Snapshot()
	return &res
}

// Snapshot returns the counts so far. Each worker's counts are consistent
// (Requests == OK + Failed holds) but workers are read one after the other,
// so the total may lag a request or so behind any single instant.
func (r *Runner) Snapshot() Result {
	res := Result{
		Failures: map[string]int64{},
		ByColor:  map[string]int64{},
	}
	var h, corrected histogram
	for _, w := range r.workers {
		w.mu.Lock()
		s := &w.st
		res.OK += s.ok
		res.Failed += s.failed
		res.Aborted += s.aborted
		res.Dials += s.dials
		for k, n := range s.failures {
			res.Failures[k] += n
		}
		for k, n := range s.byColor {
			res.ByColor[k] += *n
		}
		h.add(&s.hist)
		corrected.add(&s.corrected)
		w.mu.Unlock()
	}
	res.Requests = res.OK + res.Failed
	res.Latency = h.percentiles()
	res.CorrectedLatency = corrected.percentiles()
	res.CorrectedHistogram = &Histogram{h: corrected}
	since := r.start.Add(time.Duration(r.since.Load()))
	select {
	case <-r.done:
		res.Elapsed = r.end.Sub(since)
	default:
		res.Elapsed = time.Since(since)
	}
	r.errMu.Lock()
	res.FirstErrors = append([]string(nil), r.firstErrors...)
	r.errMu.Unlock()
	return res
}

// Reset zeroes everything counted so far while the run goes on, to leave a
// warm-up (the workers' dials, the target's first requests) out of a
// measurement: Snapshot and Stop then report only requests that finished
// after the Reset (those in flight at the Reset included, with their whole
// latency), and Elapsed counts from the Reset. The Requests limit and the
// Rate schedule still count from Start. A Snapshot taken concurrently with
// Reset may mix workers counted before and after it.
func (r *Runner) Reset() {
	r.since.Store(int64(time.Since(r.start)))
	for _, w := range r.workers {
		w.mu.Lock()
		w.st.reset()
		w.mu.Unlock()
	}
	r.errMu.Lock()
	r.firstErrors = nil
	r.errMu.Unlock()
}

// take claims the right to start one more request, waiting for its slot when
// Rate is set. It returns false when the run is over for this worker. due is
// the request's scheduled send time with Rate, the zero Time without.
func (r *Runner) take(t *time.Timer, p *pacer) (due time.Time, ok bool) {
	if r.soft.Load() {
		return time.Time{}, false
	}
	n := r.issued.Add(1)
	if r.cfg.Requests > 0 && n > r.cfg.Requests {
		return time.Time{}, false
	}
	if r.cfg.Rate > 0 {
		due = r.start.Add(time.Duration((n - 1) * int64(time.Second) / int64(r.cfg.Rate)))
		return due, r.waitUntil(t, p, due)
	}
	return time.Time{}, true
}

// waitUntil sleeps until due unless the run ends first, and reports whether
// the run is still going. It uses p when there is one (see pacer), else t.
func (r *Runner) waitUntil(t *time.Timer, p *pacer, due time.Time) bool {
	d := time.Until(due)
	if p == nil || d <= 0 {
		return r.wait(t, d)
	}
	if !p.sleep(d) && !r.soft.Load() {
		return r.wait(t, time.Until(due)) // the timerfd failed: a Go timer will do
	}
	return !r.soft.Load()
}

// wait sleeps for d unless the run ends first; it reports whether the run is
// still going.
func (r *Runner) wait(t *time.Timer, d time.Duration) bool {
	if d > 0 {
		t.Reset(d)
		select {
		case <-t.C:
		case <-r.softCh:
			t.Stop()
		}
	}
	return !r.soft.Load()
}

// noteError keeps msg if fewer than maxFirstErrors messages are kept.
func (r *Runner) noteError(msg string) {
	r.errMu.Lock()
	if len(r.firstErrors) < maxFirstErrors {
		r.firstErrors = append(r.firstErrors, msg)
	}
	r.errMu.Unlock()
}
