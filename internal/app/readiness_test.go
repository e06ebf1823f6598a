package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
