// Package bound calls a function that may block past its context, and
// answers by a deadline all the same: go-redis without
// ContextTimeoutEnabled waits in a socket read for its own read timeout
// whatever the context says, and a stalled disk ignores contexts too.
package bound

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout says that the bound passed before the call answered.
var ErrTimeout = errors.New("no answer within the bound")

// Call runs f with ctx bounded by d, in a goroutine of its own, and returns
// its result if it comes within d. Past d it returns ErrTimeout (wrapping
// f's error if f gave up with the bound); if ctx itself ends first, ctx's
// error. f's late result is dropped; whatever f did stays done.
func Call[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(cctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
			r.err = fmt.Errorf("%w (%v): %w", ErrTimeout, d, r.err)
		}
		return r.v, r.err
	case <-cctx.Done():
		var zero T
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		return zero, fmt.Errorf("%w (%v)", ErrTimeout, d)
	}
}
