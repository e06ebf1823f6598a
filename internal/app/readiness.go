package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// passed reports whether a check has ended and the last one passed. It never
// checks itself.
func (h *storeHealth) passed() bool {
	r := h.last.Load()
	return r != nil && r.err == nil
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

// readyGauge is herald_ready: 1 while /readyz answers ready, else 0. It
// reads what readyz reads, a.ready and the store's last background check,
// but never checks the store itself, so a scrape costs nothing and reads 0
// until the first check has ended (within a second of the start).
func (a *App) readyGauge() prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "herald",
		Name:      "ready",
		Help:      "1 while GET /readyz answers ready (serving, not starting or draining, and the store's last readiness check passed), else 0.",
	}, func() float64 {
		if !a.ready.Load() || (a.storeHealth != nil && !a.storeHealth.passed()) {
			return 0
		}
		return 1
	})
}
