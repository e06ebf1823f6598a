package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Readiness of the store is checked in the background, and /readyz answers
// from the last result at once: a probe never waits on a Redis that hangs,
// and a check has time for the client's own dial retries, so that /readyz
// names the cause ("connection refused") rather than its own deadline.
const (
	storeCheckEvery   = time.Second
	storeCheckTimeout = 5 * time.Second
)

// storeHealth holds the last result of the store's readiness check.
type storeHealth struct {
	check func(context.Context) error // the store's Ready
	log   *slog.Logger
	last  atomic.Pointer[checkResult] // nil until the first check ends
}

type checkResult struct{ err error }

// run checks every storeCheckEvery until ctx ends, logging changes.
func (h *storeHealth) run(ctx context.Context) {
	t := time.NewTicker(storeCheckEvery)
	defer t.Stop()
	for {
		h.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *storeHealth) refresh(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, storeCheckTimeout)
	err := h.check(cctx)
	cancel()
	if ctx.Err() != nil {
		return err // shutting down: keep the last real result
	}
	prev := h.last.Swap(&checkResult{err: err})
	switch {
	case err != nil && (prev == nil || prev.err == nil):
		h.log.WarnContext(ctx, "store not ready", "error", err)
	case err == nil && prev != nil && prev.err != nil:
		h.log.InfoContext(ctx, "store ready again")
	}
	return err
}

// err is the last check's error; before the first check ended, it checks
// now, within bound.
func (h *storeHealth) err(ctx context.Context, bound time.Duration) error {
	if r := h.last.Load(); r != nil {
		return r.err
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	return h.check(ctx)
}
