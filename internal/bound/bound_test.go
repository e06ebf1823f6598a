package bound_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/bound"
)

func TestCall(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	refused := errors.New("refused")
	const d = 20 * time.Millisecond
	tests := []struct {
		name    string
		b       *bound.Bound
		f       func(context.Context) (int, error)
		cancel  bool // the caller's context ends first
		want    int
		wantErr error
	}{
		{"answers in time", bound.New(d), func(context.Context) (int, error) { return 7, nil }, false, 7, nil},
		{"its own error", bound.New(d), func(context.Context) (int, error) { return 0, refused }, false, 0, refused},
		{"hangs", bound.New(d), func(context.Context) (int, error) { <-hang; return 1, nil }, false, 0, bound.ErrTimeout},
		{"the caller leaves", bound.New(d), func(context.Context) (int, error) { <-hang; return 1, nil }, true, 0, context.Canceled},
		{"no bound", nil, func(context.Context) (int, error) { return 3, nil }, false, 3, nil},
		{"a bound of zero", bound.New(0), func(context.Context) (int, error) { return 4, nil }, false, 4, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			start := time.Now()
			got, err := bound.Call(ctx, tc.b, tc.f)
			if got != tc.want {
				t.Errorf("value %d, want %d", got, tc.want)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			// A timer never fires early: the bound is at least d.
			if errors.Is(err, bound.ErrTimeout) && time.Since(start) < d {
				t.Errorf("timed out after %v, before the bound of %v", time.Since(start), d)
			}
		})
	}
}

// TestCallsShareWindows: calls that start together time out together, and
// a later call still gets its whole bound.
func TestCallsShareWindows(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	const d = 40 * time.Millisecond
	b := bound.New(d)
	f := func(context.Context) (int, error) { <-hang; return 0, nil }
	for range 3 {
		start := time.Now()
		_, err := bound.Call(t.Context(), b, f)
		if !errors.Is(err, bound.ErrTimeout) {
			t.Fatalf("error %v, want ErrTimeout", err)
		}
		if took := time.Since(start); took < d {
			t.Fatalf("timed out after %v, before the bound of %v", took, d)
		}
	}
}

func BenchmarkCall(b *testing.B) {
	bd := bound.New(5 * time.Second)
	ctx := b.Context()
	f := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bound.Call(ctx, bd, f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestInline: f runs in the caller's goroutine with the bound in its
// context, and the bound's channel closes no earlier than d.
func TestInline(t *testing.T) {
	t.Parallel()
	if bound.Expired(t.Context()) != nil {
		t.Fatal("Expired outside Inline is not nil")
	}
	const d = 20 * time.Millisecond
	start := time.Now()
	_, err := bound.Inline(t.Context(), bound.New(d), func(ctx context.Context) (int, error) {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-bound.Expired(ctx):
			return 0, bound.Timeout(ctx)
		}
	})
	if !errors.Is(err, bound.ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("expired after %v, before the bound of %v", took, d)
	}
	got, err := bound.Inline(t.Context(), nil, func(ctx context.Context) (int, error) {
		if bound.Expired(ctx) != nil {
			return 0, errors.New("a bound where there is none")
		}
		return 5, nil
	})
	if got != 5 || err != nil {
		t.Errorf("without a bound: %d, %v; want 5, nil", got, err)
	}
}
