package notify

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Body formats of a Webhook.
const (
	// FormatJSON posts a Payload.
	FormatJSON = "json"
	// FormatSlack posts {"text": "..."}, the body of a Slack incoming webhook
	// (also understood by Mattermost, Rocket.Chat and others).
	FormatSlack = "slack"
)

// Webhook is one configured receiver.
type Webhook struct {
	// Name identifies the webhook in messages and history, e.g. "slack-ops".
	Name string
	// URL is where events are POSTed: http or https. It is a SECRET (a
	// Slack webhook URL is a credential): it is never logged or recorded,
	// only its scheme://host.
	URL string
	// Format is FormatJSON (the default when empty) or FormatSlack.
	Format string
	// On lists the kinds of events to send (KindDeploy, KindVerify,
	// KindSwitch, KindRollback, KindFailure); empty means all. A failed or
	// refused deploy, verify, switch or rollback matches both its action's
	// kind and KindFailure.
	On []string
	// Timeout bounds one attempt, from connecting to reading the answer.
	// <= 0 means DefaultTimeout.
	Timeout time.Duration
	// Retries is how many more attempts follow one that failed with a
	// connection error, a timeout, status 408, 429 or 5xx. Other statuses
	// (3xx: redirects are not followed; 4xx) are not retried. 0 means
	// DefaultRetries; < 0 means no retry; at most MaxRetries.
	Retries int
	// Headers are added to every request, e.g. Authorization. Their values
	// are secrets too: never logged or recorded. They may override
	// Content-Type and User-Agent.
	Headers []Header
}

// Header is one extra request header of a Webhook.
type Header struct {
	Name  string
	Value string
}

// Validate reports the first thing wrong with w as an EINVALID error naming
// the webhook and the field; the message never contains the URL or a header
// value.
func (w Webhook) Validate() error {
	if w.Name == "" {
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook without a name: every webhook needs one (e.g. \"slack-ops\")")
	}
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: url is empty; want an http:// or https:// URL", w.Name)
	case err != nil:
		// url.Parse's error repeats the URL: not shown.
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: url is not a valid URL; want http://host/path or https://host/path", w.Name)
	case u.Scheme != "http" && u.Scheme != "https":
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: url scheme %q is not supported; want http or https", w.Name, u.Scheme)
	case u.Host == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: url has no host; want %s://host/path", w.Name, u.Scheme)
	}
	if w.Format != "" && w.Format != FormatJSON && w.Format != FormatSlack {
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: unknown format %q; want %q or %q", w.Name, w.Format, FormatJSON, FormatSlack)
	}
	for _, k := range w.On {
		if !slices.Contains(kinds, k) {
			return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: unknown event kind %q in on; want some of %s", w.Name, k, strings.Join(kinds, ", "))
		}
	}
	if w.Retries > MaxRetries {
		return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: retries %d is too many; want at most %d", w.Name, w.Retries, MaxRetries)
	}
	for _, h := range w.Headers {
		if !validHeaderName(h.Name) {
			return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: header name %q is not a valid HTTP header name", w.Name, h.Name)
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			return bluegreen.Errorf(bluegreen.EINVALID, "webhook %q: the value of header %q contains a line break or NUL", w.Name, h.Name)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// hook is a validated Webhook with its defaults applied, its queue and its
// drop counter.
type hook struct {
	Webhook
	target  string          // scheme://host: the only part of URL ever shown
	on      map[string]bool // nil: all kinds
	secrets []string        // strings to scrub from any text shown
	queue   chan *message

	mu      sync.Mutex // guards dropped and firstDrop
	dropped int
	// firstDrop is the first event dropped since the last report.
	firstDrop *message
}

func newHook(w Webhook, queueSize int) *hook {
	if w.Format == "" {
		w.Format = FormatJSON
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultTimeout
	}
	switch {
	case w.Retries == 0:
		w.Retries = DefaultRetries
	case w.Retries < 0:
		w.Retries = 0
	}
	w.Headers = slices.Clone(w.Headers)
	h := &hook{Webhook: w, queue: make(chan *message, queueSize)}
	u, _ := url.Parse(w.URL) // Validate parsed it
	h.target = u.Scheme + "://" + shownHost(u)
	if len(w.On) > 0 {
		h.on = make(map[string]bool, len(w.On))
		for _, k := range w.On {
			h.on[k] = true
		}
	}
	h.secrets = append(h.secrets, w.URL)
	if shown := shownHost(u); shown != u.Host {
		h.secrets = append(h.secrets, u.Host, u.Hostname()) // a resolver's error would name it
	}
	if rest := strings.TrimPrefix(w.URL, u.Scheme+"://"+u.Host); len(rest) > 1 {
		h.secrets = append(h.secrets, rest)
	}
	if p := u.EscapedPath(); len(p) > 1 {
		h.secrets = append(h.secrets, p, u.Path)
	}
	if p, ok := u.User.Password(); ok && p != "" {
		h.secrets = append(h.secrets, u.User.String(), p)
	}
	if u.RawQuery != "" {
		h.secrets = append(h.secrets, u.RawQuery)
	}
	for _, hd := range w.Headers {
		if len(hd.Value) >= 4 { // shorter values would scrub innocent words
			h.secrets = append(h.secrets, hd.Value)
		}
	}
	return h
}

// wants reports whether the webhook's On filter lets an event of this kind
// and action through.
func (h *hook) wants(kind, action string) bool {
	return h.on == nil || h.on[kind] || h.on[action]
}

// drop counts m as dropped because the queue is full.
func (h *hook) drop(m *message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dropped == 0 {
		h.firstDrop = m
	}
	h.dropped++
}

// takeDrops returns and resets the drop count and the first dropped event.
func (h *hook) takeDrops() (int, *message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, m := h.dropped, h.firstDrop
	h.dropped, h.firstDrop = 0, nil
	return n, m
}

// scrub replaces any secret part of the webhook's configuration found in s.
func (h *hook) scrub(s string) string {
	for _, sec := range h.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

// shownHost is the part of u's host that messages and records may show:
// an IP address or a name of two labels as it is; for longer names only the
// last two labels, since some services put a per-hook secret in the first
// ones (abc123.m.pipedream.net). The port stays.
func shownHost(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if net.ParseIP(host) == nil {
		if labels := strings.Split(host, "."); len(labels) > 2 {
			host = "…." + strings.Join(labels[len(labels)-2:], ".")
		}
	}
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}
