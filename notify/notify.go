// Package notify sends bluegreen events to webhooks: a generic JSON receiver
// or a Slack incoming webhook. Delivery happens in the background, with a
// per-attempt timeout and bounded retries, so that a slow or dead receiver
// never blocks or fails the operation that produced the event; a delivery that
// finally fails is handed to Options.Record as an ActionNotify event.
//
// Which events are sent is decided by Kind. Each webhook has its own queue and
// worker goroutine: events reach one webhook in the order Notify saw them, and
// a slow webhook never delays the others.
//
// Webhook URLs and header values are secrets (a Slack webhook URL is a
// credential): they are never logged or recorded. Messages name a webhook by
// its Name and its scheme://host only.
//
// Hook is the other notifier: the app's own notify command, run for
// automatic rollbacks and failures.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Defaults applied by New to zero fields.
const (
	DefaultTimeout    = 5 * time.Second        // Webhook.Timeout
	DefaultRetries    = 2                      // Webhook.Retries
	DefaultQueueSize  = 64                     // Options.QueueSize
	DefaultRetryDelay = 200 * time.Millisecond // Options.RetryDelay
	// MaxRetryDelay caps the wait between two attempts, including one asked
	// for by a receiver's Retry-After header (see Options.RetryDelay).
	MaxRetryDelay = 5 * time.Second
	// MaxRetries is the largest Webhook.Retries accepted, so that the time
	// spent on one event stays bounded.
	MaxRetries = 10
)

// Options are the parts of a Notifier shared by all its webhooks. The zero
// value is usable.
type Options struct {
	// Logger receives delivery failures (Warn) and successes (Debug), tagged
	// component=notify. Nil discards them.
	Logger *slog.Logger
	// Record is called, from a worker goroutine, with an ActionNotify event
	// (Outcome failed, Actor "bluegreen") when a delivery finally fails, when
	// events were dropped because a webhook's queue was full, and for events
	// abandoned by Close. It must be safe for concurrent use and should return
	// quickly: while it runs, that webhook's queue is not served. Nil means
	// failures are only logged.
	Record func(bluegreen.Event)
	// Source names this bluegreen instance (e.g. "prod-1" or a host name);
	// it prefixes every text and is the "source" field of JSON bodies.
	Source string
	// QueueSize is how many events may wait for each webhook; Notify drops
	// (and records) events beyond it. <= 0 means DefaultQueueSize.
	QueueSize int
	// RetryDelay is the wait before the first retry; it doubles for each
	// further retry, up to MaxRetryDelay (or RetryDelay itself if larger).
	// A Retry-After header of the receiver replaces it, within the same cap.
	// <= 0 means DefaultRetryDelay.
	RetryDelay time.Duration
	// Now is the clock for recorded events. Nil means time.Now.
	Now func() time.Time
}

// Notifier sends events to webhooks in the background. Notify and Close are
// safe for concurrent use. A Notifier owns one goroutine per webhook, from
// New until Close returns.
type Notifier struct {
	hooks      []*hook
	source     string
	logger     *slog.Logger
	record     func(bluegreen.Event)
	now        func() time.Time
	retryDelay time.Duration
	client     *http.Client

	// base is cancelled when Close gives up: it aborts attempts in flight
	// and the waits between attempts.
	base   context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // guards closed and the sends on the hooks' queues
	closed bool
	wg     sync.WaitGroup
}

// New validates hooks (see Webhook.Validate; names must be unique) and
// starts one worker per webhook. It returns an EINVALID error naming the
// first faulty webhook, without its URL. With no hooks, Notify does nothing.
// The caller must call Close to stop the workers.
func New(hooks []Webhook, opts Options) (*Notifier, error) {
	seen := make(map[string]bool, len(hooks))
	for _, w := range hooks {
		if err := w.Validate(); err != nil {
			return nil, err
		}
		if seen[w.Name] {
			return nil, bluegreen.Errorf(bluegreen.EINVALID, "webhook %q is configured twice: names must be unique", w.Name)
		}
		seen[w.Name] = true
	}
	n := &Notifier{
		source:     opts.Source,
		logger:     opts.Logger,
		record:     opts.Record,
		now:        opts.Now,
		retryDelay: opts.RetryDelay,
		client:     newClient(),
	}
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	n.logger = n.logger.With("component", "notify")
	if n.now == nil {
		n.now = time.Now
	}
	if n.retryDelay <= 0 {
		n.retryDelay = DefaultRetryDelay
	}
	size := opts.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	n.base, n.cancel = context.WithCancel(context.Background())
	for _, w := range hooks {
		h := newHook(w, size)
		n.hooks = append(n.hooks, h)
		n.wg.Add(1)
		go n.run(h)
	}
	return n, nil
}

// Notify queues ev for every webhook whose On filter matches Kind(ev), and
// returns at once: it never blocks on the network and never fails. Events
// that are not sent (see Kind), including all ActionNotify events, are
// ignored. When a webhook's queue is full the event is dropped for that
// webhook, and its worker records the drop. After Close, Notify does nothing.
//
// Notify copies what it needs from ev before returning: the caller may reuse
// ev.Details afterwards.
func (n *Notifier) Notify(ev bluegreen.Event) {
	kind := Kind(ev)
	if kind == "" || len(n.hooks) == 0 {
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.logger.Debug("notifier closed; event not sent", "event_id", ev.ID, "action", ev.Action)
		return
	}
	var m *message
	for _, h := range n.hooks {
		if !h.wants(kind, string(ev.Action)) {
			continue
		}
		if m == nil {
			m = newMessage(ev, kind, n.source)
		}
		select {
		case h.queue <- m:
		default:
			h.drop(m)
		}
	}
}

// Close stops accepting events and waits until every queued event has been
// delivered (or has failed and been recorded). If ctx ends first, Close
// aborts the attempts in flight, records what was abandoned, waits for the
// workers to return, and returns an error wrapping ctx.Err(). Close may be
// called more than once; later calls wait the same way.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, h := range n.hooks {
			close(h.queue)
		}
	}
	n.mu.Unlock()

	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done: // finished just in time
		default:
			n.cancel()
			<-done
			err = fmt.Errorf("notify: gave up on undelivered webhook events: %w", ctx.Err())
		}
	}
	n.cancel()
	n.client.CloseIdleConnections()
	return err
}
