package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/logbuf"
)

// The store's readiness: the last background result, a check of its own
// (bounded) before the first, and one log line per change.
func TestStoreHealth(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	hang := make(chan struct{})
	defer close(hang)
	var hanging atomic.Bool
	var logs logbuf.Buffer
	h := &storeHealth{
		log: slog.New(slog.NewTextHandler(&logs, nil)),
		check: func(ctx context.Context) error {
			if hanging.Load() {
				select {
				case <-hang:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if down.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
	}
	ctx := t.Context()
	// No result yet: the probe checks itself, within its bound.
	hanging.Store(true)
	if err := h.err(ctx, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("first probe against a hung store: %v, want its bound's deadline", err)
	}
	hanging.Store(false)
	if err := h.err(ctx, time.Second); err != nil {
		t.Errorf("first probe: %v", err)
	}

	down.Store(true)
	h.refresh(ctx)
	h.refresh(ctx)
	if err := h.err(ctx, time.Second); err == nil || err.Error() != "connection refused" {
		t.Errorf("after a failed check: %v, want its cause", err)
	}
	down.Store(false)
	h.refresh(ctx)
	if err := h.err(ctx, time.Second); err != nil {
		t.Errorf("after a good check: %v", err)
	}
	if got := strings.Count(logs.String(), `msg="store not ready"`); got != 1 {
		t.Errorf("logged %d not-ready lines for two failed checks in a row, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), `msg="store ready again"`) {
		t.Errorf("no line when the store came back:\n%s", logs.String())
	}
}

// herald_ready follows what /readyz answers: starting, ready, the store
// failing and back, draining. Before the store's first check has ended it
// reads 0 without checking, where /readyz checks itself.
func TestReadyGauge(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	a := &App{log: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry(), storeName: "test"}
	if err := a.reg.Register(a.readyGauge()); err != nil {
		t.Fatal(err)
	}
	checks := 0
	a.storeHealth = &storeHealth{
		log: a.log,
		check: func(context.Context) error {
			checks++
			if down.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
	}
	gauge := func() float64 {
		t.Helper()
		mfs, err := a.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "herald_ready" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no herald_ready gathered")
		return 0
	}
	readyz := func() int {
		w := httptest.NewRecorder()
		a.readyz(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code
	}

	a.ready.Store(true)
	if got := gauge(); got != 0 || checks != 0 {
		t.Errorf("before the first check: herald_ready %v after %d checks, want 0 after none", got, checks)
	}
	ctx := t.Context()
	for _, step := range []struct {
		name        string
		ready, down bool
		want        float64
	}{
		{name: "starting", ready: false, want: 0},
		{name: "ready", ready: true, want: 1},
		{name: "store down", ready: true, down: true, want: 0},
		{name: "store back", ready: true, want: 1},
		{name: "draining", ready: false, want: 0},
	} {
		a.ready.Store(step.ready)
		down.Store(step.down)
		a.storeHealth.refresh(ctx)
		wantCode := http.StatusServiceUnavailable
		if step.want == 1 {
			wantCode = http.StatusOK
		}
		if got, code := gauge(), readyz(); got != step.want || code != wantCode {
			t.Errorf("%s: herald_ready %v and /readyz %d, want %v and %d", step.name, got, code, step.want, wantCode)
		}
	}

	// A store without a readiness check: ready is all there is.
	a.storeHealth = nil
	a.ready.Store(true)
	if got := gauge(); got != 1 {
		t.Errorf("without a store check: herald_ready %v, want 1", got)
	}
}
