package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	for v := int64(1); v < 1<<16; v++ {
		if b, prev := bucketOf(v), bucketOf(v-1); b != prev && b != prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d: not contiguous", v, b, prev)
		}
	}
	values := []int64{0, 1, 31, 32, 33, 47, 48, 1000, 1 << 20, 123456789, 1 << 40, math.MaxInt64}
	for v := int64(0); v < 1<<16; v += 7 {
		values = append(values, v)
	}
	for _, v := range values {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, b)
		}
		ub := upperBound(b)
		if ub < v || float64(ub-v) > float64(v)/subCount {
			t.Fatalf("value %d: bucket %d upper bound %d, want within 1/%d above", v, b, ub, subCount)
		}
		if b > 0 && upperBound(b-1) >= v {
			t.Fatalf("value %d: previous bucket's upper bound %d covers it", v, upperBound(b-1))
		}
	}
}

func TestHistogramPercentiles(t *testing.T) {
	var h histogram
	if (h.percentiles() != Percentiles{}) {
		t.Fatal("empty histogram has non-zero percentiles")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	var other histogram
	other.record(2 * time.Second)
	h.add(&other)
	p := h.percentiles()
	near := func(name string, got, want time.Duration) {
		t.Helper()
		if got < want || float64(got) > float64(want)*(1+1.0/subCount) {
			t.Errorf("%s = %v, want %v (+%d%%)", name, got, want, 100/subCount)
		}
	}
	near("p50", p.P50, 501*time.Microsecond) // 1001 values: rank 501
	near("p90", p.P90, 901*time.Microsecond)
	near("p99", p.P99, 991*time.Microsecond)
	near("p99.9", p.P999, 1000*time.Microsecond) // rank 1000 of 1001
	if p.Max != 2*time.Second {
		t.Errorf("max = %v, want 2s", p.Max)
	}
}
