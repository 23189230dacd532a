package api

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// AuthLimit bounds failed authentications (401) per client address with a
// token bucket: Burst failures at once, then one per Every. A client
// address whose bucket is empty gets 429 with Retry-After, before its
// token is looked at, until the bucket has refilled by one.
type AuthLimit struct {
	// Burst is how many failures an address may make in a row; <= 0
	// means DefaultAuthLimit's.
	Burst int
	// Every is how often an address earns one more failure back; <= 0
	// means DefaultAuthLimit's.
	Every time.Duration
	// MaxAddresses bounds how many addresses are tracked; <= 0 means
	// DefaultAuthLimit's. Beyond it, idle addresses are forgotten, and
	// new ones share one bucket while every tracked one is busy.
	MaxAddresses int
}

// DefaultAuthLimit is the limit when Options.AuthLimit is zero: 20 failures
// in a row, then one every second, for up to 4096 addresses.
var DefaultAuthLimit = AuthLimit{Burst: 20, Every: time.Second, MaxAddresses: 4096}

// authLimiter keeps the token buckets of AuthLimit. It is safe for
// concurrent use.
type authLimiter struct {
	lim AuthLimit
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*authBucket
}

type authBucket struct {
	tokens float64
	last   time.Time
	// limited is set once the address ran out (logged once), cleared
	// once its bucket is full again.
	limited bool
}

func newAuthLimiter(lim AuthLimit, now func() time.Time) *authLimiter {
	if lim.Burst <= 0 {
		lim.Burst = DefaultAuthLimit.Burst
	}
	if lim.Every <= 0 {
		lim.Every = DefaultAuthLimit.Every
	}
	if lim.MaxAddresses <= 0 {
		lim.MaxAddresses = DefaultAuthLimit.MaxAddresses
	}
	return &authLimiter{lim: lim, now: now, buckets: map[string]*authBucket{}}
}

// clientKey is what failures are counted by: the remote IP address, an
// IPv6 address by its /64 (what one host usually holds).
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// refill brings b up to date at now. mu is held.
func (l *authLimiter) refill(b *authBucket, now time.Time) {
	b.tokens = math.Min(float64(l.lim.Burst), b.tokens+float64(now.Sub(b.last))/float64(l.lim.Every))
	b.last = now
	if b.tokens >= float64(l.lim.Burst) {
		b.limited = false
	}
}

// bucket returns key's bucket, making room for it. mu is held.
func (l *authLimiter) bucket(key string, now time.Time) *authBucket {
	if b := l.buckets[key]; b != nil {
		l.refill(b, now)
		return b
	}
	if len(l.buckets) >= l.lim.MaxAddresses {
		for k, b := range l.buckets {
			if l.refill(b, now); b.tokens >= float64(l.lim.Burst) {
				delete(l.buckets, k) // full again: nothing to remember
			}
		}
	}
	if len(l.buckets) >= l.lim.MaxAddresses {
		key = "*" // every tracked address is busy: the new ones share
		if b := l.buckets[key]; b != nil {
			l.refill(b, now)
			return b
		}
	}
	b := &authBucket{tokens: float64(l.lim.Burst), last: now}
	l.buckets[key] = b
	return b
}

// wait reports how long the client at remoteAddr must wait before it may
// try to authenticate again: 0 when it may now.
func (l *authLimiter) wait(remoteAddr string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(clientKey(remoteAddr), now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.lim.Every))
}

// fail counts a failed authentication of the client at remoteAddr. first
// says it is the first of a run (the bucket was full), nowLimited that it
// has just used the last of its bucket: the two worth a log line.
func (l *authLimiter) fail(remoteAddr string) (first, nowLimited bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(clientKey(remoteAddr), now)
	first = b.tokens >= float64(l.lim.Burst)
	b.tokens = math.Max(0, b.tokens-1)
	if b.tokens < 1 && !b.limited {
		b.limited, nowLimited = true, true
	}
	return first, nowLimited
}

// logLimiter lets through at most one log line per kind and interval, so
// that a caller repeating a refused call cannot flood the log (the history
// counts every refusal; see controller.Options.RefusalWindow). It is safe
// for concurrent use.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// maxLogKinds bounds logLimiter's memory: when full it starts afresh.
const maxLogKinds = 4096

// due reports whether a line of kind may be logged now, and notes it.
func (l *logLimiter) due(kind string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[kind]; ok && now.Sub(t) < l.every {
		return false
	}
	if l.last == nil || len(l.last) >= maxLogKinds {
		l.last = map[string]time.Time{}
	}
	l.last[kind] = now
	return true
}
