// Package bound calls a function that may block past its context, and
// answers by a deadline all the same: go-redis without
// ContextTimeoutEnabled waits in a socket read for its own read timeout
// whatever the context says, and a stalled disk ignores contexts too.
package bound

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrTimeout says that the bound passed before the call answered.
var ErrTimeout = errors.New("no answer within the bound")

// slices is how many windows a bound is cut into: calls that start within
// one window share its expiry. A call is then bounded by at least d and at
// most d + d/slices, and a busy process arms slices/d timers a second
// instead of one per call (at thousands of calls a second a timer each was
// a measurable part of a store call's cost).
const slices = 16

// Bound is a time bound shared by many calls; the zero Bound and a nil one
// bound nothing. It is safe for concurrent use.
type Bound struct {
	d   time.Duration
	cur atomic.Pointer[window]
}

// window is the expiry shared by the calls that start before end.
type window struct {
	end     time.Time
	d       time.Duration // the bound's
	expired chan struct{} // closed at end + d
}

// New returns a bound of d; d <= 0 bounds nothing.
func New(d time.Duration) *Bound {
	return &Bound{d: d}
}

func (b *Bound) window() *window {
	now := time.Now()
	w := b.cur.Load()
	if w != nil && now.Before(w.end) {
		return w
	}
	step := b.d / slices
	nw := &window{end: now.Add(step), d: b.d, expired: make(chan struct{})}
	if !b.cur.CompareAndSwap(w, nw) {
		// Another call opened the next window first.
		return b.cur.Load()
	}
	time.AfterFunc(step+b.d, func() { close(nw.expired) })
	return nw
}

// Call runs f with ctx in a goroutine of its own and returns its result if
// it comes within b's bound (see slices). Past the bound it returns
// ErrTimeout; if ctx itself ends first, ctx's error. f's late result
// is dropped; whatever f did stays done, and f keeps ctx, so a late f ends
// when its own timeouts or ctx say.
func Call[T any](ctx context.Context, b *Bound, f func(context.Context) (T, error)) (T, error) {
	if b == nil || b.d <= 0 {
		return f(ctx)
	}
	w := b.window()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-w.expired:
		return zero, fmt.Errorf("%w (%v)", ErrTimeout, b.d)
	}
}

type expiryKey struct{}

// Inline runs f in the caller's goroutine, for an f that only blocks in
// selects which watch Expired(ctx) beside ctx.Done(): such an f needs no
// goroutine of its own to answer by the bound, and saves its cost (a
// goroutine and a channel per call). f reports the bound's passing itself,
// with an error that wraps ErrTimeout (see Expired).
func Inline[T any](ctx context.Context, b *Bound, f func(context.Context) (T, error)) (T, error) {
	if b == nil || b.d <= 0 {
		return f(ctx)
	}
	return f(context.WithValue(ctx, expiryKey{}, b.window()))
}

// Expired returns a channel closed when the bound that Inline set on ctx
// passes, and nil, which never receives, outside Inline. An f that returns
// because of it should return Timeout(ctx).
func Expired(ctx context.Context) <-chan struct{} {
	if w, ok := ctx.Value(expiryKey{}).(*window); ok {
		return w.expired
	}
	return nil
}

// Timeout is the error of a call that Expired(ctx) ended.
func Timeout(ctx context.Context) error {
	if w, ok := ctx.Value(expiryKey{}).(*window); ok {
		return fmt.Errorf("%w (%v)", ErrTimeout, w.d)
	}
	return ErrTimeout
}
