package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// errShutdown marks an attempt or a wait cut short by Close giving up.
var errShutdown = errors.New("abandoned at shutdown")

// newClient returns the HTTP client of a Notifier: its own connection pool,
// proxies from the environment, and no redirects (a webhook that redirects
// is misconfigured, and following would resend the body elsewhere).
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// run is the worker of one webhook: it delivers the queued events in order
// until Close closes the queue, then reports what was dropped or abandoned.
func (n *Notifier) run(h *hook) {
	defer n.wg.Done()
	abandoned := 0
	var first *message
	for m := range h.queue {
		if n.base.Err() != nil {
			if abandoned == 0 {
				first = m
			}
			abandoned++
			continue
		}
		n.deliver(h, m)
		n.reportDrops(h)
	}
	n.reportDrops(h)
	if abandoned > 0 {
		msg := fmt.Sprintf("webhook %q (%s) abandoned %s still queued at shutdown", h.Name, h.target, plural(abandoned, "event"))
		n.fail(h, first, msg, map[string]any{"abandoned": abandoned})
	}
}

// deliver sends m to h, retrying as Webhook.Retries says, and records a
// final failure.
func (n *Notifier) deliver(h *hook, m *message) {
	body := m.body(h.Format)
	delay := n.retryDelay
	attempts := 0
	for {
		attempts++
		retry, after, err := n.attempt(h, body)
		if err == nil {
			n.logger.Debug("webhook delivered", "webhook", h.Name, "target", h.target,
				"event_id", m.id, "action", m.action, "attempts", attempts)
			return
		}
		if retry && attempts <= h.Retries {
			wait := delay
			if after > 0 {
				wait = after
			}
			limit := max(n.retryDelay, MaxRetryDelay)
			delay = min(2*delay, limit)
			if n.sleep(min(wait, limit)) {
				continue
			}
			err = fmt.Errorf("%w (last error: %v)", errShutdown, err)
		}
		reason := h.scrub(err.Error())
		msg := fmt.Sprintf("webhook %q (%s) failed after %s: %s", h.Name, h.target, plural(attempts, "attempt"), reason)
		n.fail(h, m, msg, map[string]any{"attempts": attempts, "error": reason})
		return
	}
}

// attempt POSTs body once. It returns nil when the receiver answered 2xx;
// otherwise whether the failure is worth a retry, and the wait the receiver
// asked for (Retry-After), if any. Errors never contain the URL.
func (n *Notifier) attempt(h *hook, body []byte) (retry bool, after time.Duration, err error) {
	ctx, cancel := context.WithTimeout(n.base, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, errors.New("cannot build the request from the configured url")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bluegreen-notify")
	for _, hd := range h.Headers {
		req.Header.Set(hd.Name, hd.Value)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		switch {
		case n.base.Err() != nil:
			return false, 0, errShutdown
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return true, 0, fmt.Errorf("no answer within %s", h.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) { // drop `Post "<url>":`
			err = ue.Err
		}
		return true, 0, err
	}
	// Read a little, so the connection can be reused and Slack's error code
	// can be shown; a 2xx counts as delivered even if this is cut short.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return false, 0, nil
	}
	err = fmt.Errorf("status %d", code)
	if s := strings.TrimSpace(string(snippet)); errorCode.MatchString(s) {
		err = fmt.Errorf("status %d: %s", code, s)
	}
	if code >= 300 && code < 400 {
		return false, 0, fmt.Errorf("%w (redirects are not followed; configure the final URL)", err)
	}
	retry = code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 && retry {
		after = max(time.Duration(secs)*time.Second, time.Millisecond)
	}
	return retry, after, err
}

// errorCode matches the short error codes some receivers answer with, like
// Slack's "invalid_payload" or "no_service". Only those are quoted in
// errors: a longer body may echo the secret URL.
var errorCode = regexp.MustCompile(`^[a-z_]{1,40}$`)

// sleep waits d, or until Close gives up; it reports whether the full wait
// happened.
func (n *Notifier) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.base.Done():
		return false
	}
}

// reportDrops records the events dropped for h since the last report.
func (n *Notifier) reportDrops(h *hook) {
	count, first := h.takeDrops()
	if count == 0 {
		return
	}
	msg := fmt.Sprintf("webhook %q (%s) dropped %s: its queue of %d was full", h.Name, h.target,
		plural(count, "event"), cap(h.queue))
	n.fail(h, first, msg, map[string]any{"dropped": count})
}

// fail logs and records a delivery problem of h about m (for several
// events, the first one).
func (n *Notifier) fail(h *hook, m *message, msg string, details map[string]any) {
	details["webhook"] = h.Name
	details["target"] = h.target
	details["event_id"] = m.id
	details["action"] = m.action
	details["kind"] = m.kind
	args := []any{"webhook", h.Name, "target", h.target, "event_id", m.id, "action", m.action}
	for _, k := range []string{"attempts", "error", "dropped", "abandoned"} {
		if v, ok := details[k]; ok {
			args = append(args, k, v)
		}
	}
	n.logger.Warn(msg, args...)
	if n.record == nil {
		return
	}
	n.record(bluegreen.Event{
		Time:     n.now().UTC(),
		Actor:    "bluegreen",
		Action:   bluegreen.ActionNotify,
		Color:    m.color,
		Outcome:  bluegreen.OutcomeFailed,
		Revision: m.revision,
		Message:  msg,
		Details:  details,
	})
}
