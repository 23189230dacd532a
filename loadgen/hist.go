package loadgen

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Percentiles summarises request latencies. They come from a log-linear
// histogram (16 buckets per power of two, so a bucket is at most 6.25% wide);
// each percentile is the upper bound of its bucket, capped at Max, so it
// over-states the true value by at most 6.25%. Max is exact.
type Percentiles struct {
	P50, P90, P99, P999, Max time.Duration // P999 is the 99.9th percentile
}

const (
	subBits    = 4 // 2^4 = 16 sub-buckets per power of two
	subCount   = 1 << subBits
	numBuckets = (64 - subBits - 1 + 1) * subCount
)

// histogram counts durations in nanoseconds. Values below 2*subCount get a
// bucket each; above that, a value v with bit length n goes to the bucket
// named by its top subBits+1 bits. It is not safe for concurrent use.
type histogram struct {
	counts [numBuckets]int64
	total  int64
	max    int64
}

func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return shift*subCount + int(v>>shift)
}

// upperBound is the largest value that bucketOf maps to bucket i.
func upperBound(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	top := int64(i%subCount + subCount)
	return (top+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *histogram) add(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the value at or below which a fraction q of the recorded
// values lie (upper bucket bound, capped at the maximum); 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := int64(q*float64(h.total) + 0.999999)
	rank = min(max(rank, 1), h.total)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(upperBound(i), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) percentiles() Percentiles {
	return Percentiles{
		P50:  h.quantile(0.50),
		P90:  h.quantile(0.90),
		P99:  h.quantile(0.99),
		P999: h.quantile(0.999),
		Max:  time.Duration(h.max),
	}
}

// Histogram is a record of latencies that runs measured apart can be
// pooled in: the sum of two Histograms gives the percentiles of both runs'
// requests together, which no combination of their Percentiles can. Its
// text form (MarshalText) lets separate processes pool their runs. The zero
// value is empty and ready to use; it is not safe for concurrent use.
type Histogram struct {
	h histogram
}

// histMagic starts a Histogram's text form.
const histMagic = "loadgen-histogram v1"

// Add adds o's counts to h.
func (h *Histogram) Add(o *Histogram) { h.h.add(&o.h) }

// Count returns how many latencies h holds.
func (h *Histogram) Count() int64 { return h.h.total }

// Percentiles summarises h as a Result does (bucket upper bounds, capped at
// the exact maximum); all zero when h is empty.
func (h *Histogram) Percentiles() Percentiles { return h.h.percentiles() }

// MarshalText encodes h as a first line "loadgen-histogram v1 total=N
// max=NS" and then one line "BUCKET COUNT" per bucket that is not empty.
func (h *Histogram) MarshalText() ([]byte, error) {
	b := fmt.Appendf(nil, "%s total=%d max=%d\n", histMagic, h.h.total, h.h.max)
	for i, c := range h.h.counts {
		if c != 0 {
			b = fmt.Appendf(b, "%d %d\n", i, c)
		}
	}
	return b, nil
}

// UnmarshalText replaces h with the histogram that MarshalText encoded in
// text. It refuses anything else, naming the line, and leaves h unchanged
// then.
func (h *Histogram) UnmarshalText(text []byte) error {
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	var n histogram
	header := func() string { return fmt.Sprintf("%s total=%d max=%d", histMagic, n.total, n.max) }
	if _, err := fmt.Sscanf(lines[0], histMagic+" total=%d max=%d", &n.total, &n.max); err != nil ||
		n.total < 0 || n.max < 0 || header() != lines[0] {
		return fmt.Errorf("line 1: want %q, got %q", histMagic+" total=N max=NS", lines[0])
	}
	var sum int64
	top := -1
	for i, l := range lines[1:] {
		var bucket int
		var count int64
		if _, err := fmt.Sscanf(l, "%d %d", &bucket, &count); err != nil || fmt.Sprintf("%d %d", bucket, count) != l ||
			bucket <= top || bucket >= numBuckets || count <= 0 {
			return fmt.Errorf("line %d: want a bucket above the line before's (up to %d) and a positive count, got %q",
				i+2, numBuckets-1, l)
		}
		n.counts[bucket] = count
		sum += count
		top = bucket
	}
	if sum != n.total {
		return fmt.Errorf("line 1 says total=%d, the buckets below it hold %d", n.total, sum)
	}
	if n.total > 0 && bucketOf(n.max) != top {
		return fmt.Errorf("line 1 says max=%d, which is not in the last bucket, %d (line %d)", n.max, top, len(lines))
	}
	h.h = n
	return nil
}
