package loadgen

import (
	"math"
	"strings"
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

// Two runs pooled through their text form have the percentiles of one
// histogram that saw every request, which no mix of their own percentiles
// gives: here the pooled p99 is a value only the second run recorded.
func TestHistogramPoolsThroughText(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		a.h.record(d)
		all.h.record(d)
	}
	for i := 1; i <= 100; i++ {
		d := time.Duration(i) * time.Second
		b.h.record(d)
		all.h.record(d)
	}
	var pooled Histogram
	for _, h := range []*Histogram{&a, &b} {
		text, err := h.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Histogram
		if err := back.UnmarshalText(text); err != nil {
			t.Fatalf("%v in:\n%s", err, text)
		}
		pooled.Add(&back)
	}
	if pooled.Count() != 1100 || pooled.Percentiles() != all.Percentiles() {
		t.Errorf("pooled: %d latencies, %+v; want 1100, %+v", pooled.Count(), pooled.Percentiles(), all.Percentiles())
	}
	// 1,100 latencies: rank 1089 is the 89th second.
	if p99 := pooled.Percentiles().P99; p99 < 89*time.Second || p99 > 95*time.Second {
		t.Errorf("pooled p99 = %v, want 89s (+6.25%%)", p99)
	}
}

func TestHistogramTextRefused(t *testing.T) {
	var h Histogram
	h.h.record(time.Millisecond)
	want := h.Percentiles()
	for _, bad := range []string{
		"",
		"something else\n",
		histMagic + " total=1 max=5\n",                  // no bucket
		histMagic + " total=1 max=5\n3\n",               // no count
		histMagic + " total=2 max=5\n3 1\n3 1\n",        // the same bucket twice
		histMagic + " total=1 max=5\n99999 1\n",         // no such bucket
		histMagic + " total=1 max=5\n3 0\n",             // an empty bucket
		histMagic + " total=-1 max=5\n",                 // a negative total
		histMagic + " total=1 max=5\n3 1\nextra line\n", // trailing junk
		histMagic + " total=1 max=5\n5 1 2\n",           // a third field
		histMagic + " total=1 max=5 more\n5 1\n",        // more on line 1
		histMagic + " total=2 max=6\n6 1\n5 1\n",        // buckets out of order
		histMagic + " total=1 max=900\n5 1\n",           // max beyond the last bucket
	} {
		if err := h.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = nil, want an error", bad)
		} else if !strings.Contains(err.Error(), "line") {
			t.Errorf("UnmarshalText(%q) = %v, want the line named", bad, err)
		}
		if h.Count() != 1 || h.Percentiles() != want {
			t.Fatalf("after UnmarshalText(%q): %d latencies, %+v; want it unchanged", bad, h.Count(), h.Percentiles())
		}
	}
}
