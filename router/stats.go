package router

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/bluegreen/bluegreen"
)

// latencyBounds are the upper bounds of the latency histogram buckets, the
// Prometheus client defaults (5 ms to 10 s).
var latencyBounds = [...]time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// colorStats are one color's counters. Every field is an atomic so the
// request path never locks; a snapshot reads them one by one.
type colorStats struct {
	requests   atomic.Int64
	inFlight   atomic.Int64
	upErrors   atomic.Int64
	clientErrs atomic.Int64
	classes    [5]atomic.Int64                      // 1xx..5xx
	buckets    [len(latencyBounds) + 1]atomic.Int64 // not cumulative; last is +Inf
	latencySum atomic.Int64                         // nanoseconds
	_          [64]byte                             // keep the two colors on separate cache lines
}

// done records one finished request. A request the router answered
// itself because of the client (clientFault) is counted only as that.
func (s *colorStats) done(status int, latency time.Duration, upErr, clientFault bool) {
	s.inFlight.Add(-1)
	if clientFault {
		s.clientErrs.Add(1)
		return
	}
	s.requests.Add(1)
	if status >= 100 && status < 600 {
		s.classes[status/100-1].Add(1)
	}
	if upErr {
		s.upErrors.Add(1)
	}
	i := 0
	for i < len(latencyBounds) && latency > latencyBounds[i] {
		i++
	}
	s.buckets[i].Add(1)
	s.latencySum.Add(int64(latency))
}

func (s *colorStats) snapshot() ColorStats {
	out := ColorStats{
		Requests:       s.requests.Load(),
		InFlight:       s.inFlight.Load(),
		UpstreamErrors: s.upErrors.Load(),
		ClientErrors:   s.clientErrs.Load(),
	}
	for i := range s.classes {
		out.Status[i] = s.classes[i].Load()
	}
	h := Histogram{
		Bounds: make([]float64, len(latencyBounds)),
		Counts: make([]int64, len(latencyBounds)+1),
		Sum:    time.Duration(s.latencySum.Load()).Seconds(),
	}
	var cum int64
	for i := range s.buckets {
		cum += s.buckets[i].Load()
		h.Counts[i] = cum
		if i < len(latencyBounds) {
			h.Bounds[i] = latencyBounds[i].Seconds()
		}
	}
	h.Count = cum
	out.Latency = h
	return out
}

// ColorStats is a snapshot of one color's traffic since the router started,
// public and preview listeners together. Fields are read one at a time
// without a lock, so a snapshot taken under load may be off by the requests
// that finished while it was taken.
type ColorStats struct {
	// Requests counts finished requests that the color's upstreams
	// answered, or that the router answered 502 or 504 for an upstream
	// that could not be reached, broke the exchange or was cut at a
	// drain's deadline. It counts neither the color path nor ClientErrors.
	Requests int64
	// InFlight counts requests started and not yet finished, including open
	// streams and upgraded (WebSocket) connections.
	InFlight int64
	// Status counts finished requests by status class: Status[0] is 1xx
	// (final 101 only), ..., Status[4] is 5xx, of the requests counted in
	// Requests.
	Status [5]int64
	// UpstreamErrors counts the 502 answers the router generated because an
	// upstream could not be reached or broke the exchange.
	UpstreamErrors int64
	// ClientErrors counts the requests the router answered itself because
	// of the client, and only here: CONNECT (501), a body over the limit
	// (413), a body it could not read (400) or that came too slowly
	// (408), a client that went away before the answer (499, sent to
	// nobody, as nginx logs it), and the router's own failure to buffer a
	// body (500). They are in neither Requests, Status nor
	// Latency: whatever a client sends, it cannot fail a color's
	// post-switch watch nor dilute its figures. Requests refused before
	// they were routed (a malformed head) are not counted at all.
	ClientErrors int64
	// Latency is the time from the request's arrival to the upstream's
	// response headers (or to the router's own error answer).
	Latency Histogram
}

// Traffic converts s to the domain's TrafficStats.
func (s ColorStats) Traffic() bluegreen.TrafficStats {
	return bluegreen.TrafficStats{
		Requests:       s.Requests,
		InFlight:       s.InFlight,
		Status2xx:      s.Status[1],
		Status3xx:      s.Status[2],
		Status4xx:      s.Status[3],
		Status5xx:      s.Status[4],
		UpstreamErrors: s.UpstreamErrors,
		ClientErrors:   s.ClientErrors,
	}
}

// Sub returns the traffic between the snapshots prev and s (taken later):
// counters and histogram are differences, InFlight is s's. Use it to compute
// a 5xx ratio or a p99 over a window.
func (s ColorStats) Sub(prev ColorStats) ColorStats {
	out := s
	out.Requests -= prev.Requests
	out.UpstreamErrors -= prev.UpstreamErrors
	out.ClientErrors -= prev.ClientErrors
	for i := range out.Status {
		out.Status[i] -= prev.Status[i]
	}
	out.Latency = s.Latency.Sub(prev.Latency)
	return out
}

// Histogram is a cumulative histogram in the Prometheus style.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds, increasing. A last,
	// implicit bucket has the bound +Inf.
	Bounds []float64
	// Counts[i] is the number of observations <= Bounds[i]; it has
	// len(Bounds)+1 entries and the last one equals Count.
	Counts []int64
	// Count is the number of observations and Sum their total in seconds.
	Count int64
	Sum   float64
}

// Sub returns h minus prev, bucket by bucket. prev must have the same
// bounds (every snapshot of this package does) or be the zero Histogram.
func (h Histogram) Sub(prev Histogram) Histogram {
	out := Histogram{
		Bounds: append([]float64(nil), h.Bounds...),
		Counts: append([]int64(nil), h.Counts...),
		Count:  h.Count - prev.Count,
		Sum:    h.Sum - prev.Sum,
	}
	for i := range out.Counts {
		if i < len(prev.Counts) {
			out.Counts[i] -= prev.Counts[i]
		}
	}
	return out
}

// Quantile estimates the q-quantile (0 <= q <= 1) in seconds by linear
// interpolation inside the bucket that holds it, like Prometheus'
// histogram_quantile. It returns NaN for an empty histogram and the highest
// finite bound when the quantile falls in the +Inf bucket.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Counts) == 0 || q < 0 || q > 1 || math.IsNaN(q) {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	for i, c := range h.Counts {
		if float64(c) < rank || c == 0 {
			continue
		}
		if i >= len(h.Bounds) {
			if len(h.Bounds) == 0 {
				return math.NaN()
			}
			return h.Bounds[len(h.Bounds)-1]
		}
		lower, below := 0.0, int64(0)
		if i > 0 {
			lower, below = h.Bounds[i-1], h.Counts[i-1]
		}
		in := c - below
		if in == 0 {
			return h.Bounds[i]
		}
		return lower + (h.Bounds[i]-lower)*(rank-float64(below))/float64(in)
	}
	if len(h.Bounds) == 0 {
		return math.NaN()
	}
	return h.Bounds[len(h.Bounds)-1]
}
