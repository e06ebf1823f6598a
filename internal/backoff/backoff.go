// Package backoff is the one retry pacing Herald uses: capped exponential
// backoff with jitter, so that many retrying together (consumers after a
// store outage, nodes after Redis restarts) do not act in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff paces retries: each delay doubles from Min up to Max, and is
// drawn at random from its upper half. The zero value is not usable; set
// Min and Max (Min > 0, Max >= Min). Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the delay before the next attempt and advances.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, b.Max)
	return d
}

// Reset starts again at Min, after a success.
func (b *Backoff) Reset() { b.next = 0 }

// Wait sleeps for Next; false means ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
