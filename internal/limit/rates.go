package limit

import (
	"context"
	"math"
	"sync"
	"time"
)

// Rate is the shape of a token bucket: PerSecond tokens come back each
// second, up to Burst (at least 1) held at once.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Rates keeps token buckets by key, on this node: on N nodes each key may
// take N times its rate. Keys are service names, so the buckets are few.
// The zero value is not usable; call NewRates.
type Rates struct {
	mu    sync.Mutex
	byKey map[string]*bucket
}

// bucket is one key's tokens as of last.
type bucket struct {
	rate   Rate
	tokens float64
	last   time.Time
}

// NewRates returns an empty set of buckets.
func NewRates() *Rates {
	return &Rates{byKey: make(map[string]*bucket)}
}

// Take takes n tokens from key's bucket, shaped r (a new bucket starts
// full). When they are not all there it takes none and reports false,
// with the time until they would be (math.MaxInt64 for n above the burst,
// which never passes). Otherwise undo gives them back, for a request that
// then fails: never more than the burst, so the bucket holds at most what
// it would have held without the request.
//
// The shape in force is the one given: a reload that changes a key's rate
// or burst takes effect on its next call, the tokens so far counted at the
// old rate.
func (rs *Rates) Take(_ context.Context, key string, r Rate, n int) (undo func(), wait time.Duration, ok bool) {
	if n > r.Burst {
		return nil, math.MaxInt64, false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	now := time.Now()
	b, found := rs.byKey[key]
	if !found {
		b = &bucket{rate: r, tokens: float64(r.Burst), last: now}
		rs.byKey[key] = b
	}
	b.advance(now)
	b.rate = r
	b.tokens = min(b.tokens, float64(r.Burst))
	if need := float64(n) - b.tokens; need > 0 {
		return nil, time.Duration(need / r.PerSecond * float64(time.Second)), false
	}
	b.tokens -= float64(n)
	return func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		b.advance(time.Now())
		b.tokens = min(b.tokens+float64(n), float64(b.rate.Burst))
	}, 0, true
}

// advance adds the tokens that came back since last, up to the burst.
func (b *bucket) advance(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.tokens+d.Seconds()*b.rate.PerSecond, float64(b.rate.Burst))
		b.last = now
	}
}
