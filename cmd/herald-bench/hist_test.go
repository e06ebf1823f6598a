package main

import (
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 999_999, 1_000_000, 123_456_789, 1 << 40} {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v >= hi {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, lo, hi)
		}
		if v >= 64 && float64(hi-lo)/float64(lo) > 1.0/64 {
			t.Errorf("bucket of %d is [%d, %d), wider than 1/64", v, lo, hi)
		}
	}
	for i := 1; i < buckets; i++ {
		_, hi := bucketRange(i - 1)
		if lo, _ := bucketRange(i); lo != hi {
			t.Fatalf("gap between buckets %d and %d: %d != %d", i-1, i, hi, lo)
		}
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.01 || d > 0.01 {
			t.Errorf("q%v: got %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Quantile(1) != 10*time.Millisecond {
		t.Errorf("max: got %v and q1 %v, want 10ms", h.Max(), h.Quantile(1))
	}
}

func TestBitset(t *testing.T) {
	t.Parallel()
	var got, want bitset
	for _, i := range []uint64{0, 5, 64, 200} {
		want.set(i)
	}
	if got.set(5) || !got.set(5) {
		t.Error("set does not report a second set")
	}
	got.set(200)
	if n := got.missing(want); n != 2 {
		t.Errorf("missing: got %d, want 2 (0 and 64)", n)
	}
	if n := want.missing(got); n != 0 {
		t.Errorf("missing the other way: got %d, want 0", n)
	}
}
