package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram is a log-linear latency histogram in nanoseconds, safe for
// concurrent Record: each power of two is split into 2^subBits linear
// buckets, so a recorded value is known to within 1/64 (1.6 %), and the
// reported bucket midpoint to within 0.8 %. That is the precision of an HDR
// histogram with two significant digits, well below the run-to-run spread
// of this machine, and it keeps a shared, lock-free array of counters that
// thousands of stream readers can update at once without a new dependency.
type histogram struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	subBits = 6
	subN    = 1 << subBits
	// Values up to 2^41 ns (about 36 minutes) get their own bucket; larger
	// ones share the last.
	buckets = (41 - subBits + 1) * subN
)

// bucketOf maps v ≥ 0 to its bucket index.
func bucketOf(v int64) int {
	if v < subN {
		return int(max(v, 0))
	}
	k := bits.Len64(uint64(v)) - 1 // 2^k ≤ v < 2^(k+1), k ≥ subBits
	i := (k-subBits+1)*subN + int(uint64(v)>>(k-subBits))&(subN-1)
	return min(i, buckets-1)
}

// bucketRange is the inverse of bucketOf: bucket i holds [lo, hi).
func bucketRange(i int) (lo, hi int64) {
	if i < subN {
		return int64(i), int64(i) + 1
	}
	k := i/subN + subBits - 1
	sub := int64(i % subN)
	width := int64(1) << (k - subBits)
	lo = int64(1)<<k + sub*width
	return lo, lo + width
}

func (h *histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Quantile returns the value below which the fraction q of recordings lie,
// as the midpoint of its bucket, capped at the exact maximum. Call it when
// no Record runs any more.
func (h *histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	if rank >= n {
		rank = n - 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen > rank {
			lo, hi := bucketRange(i)
			return time.Duration(min(lo+(hi-lo)/2, h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

func (h *histogram) Count() uint64      { return h.n.Load() }
func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }
