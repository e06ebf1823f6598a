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
	tests := []struct {
		name    string
		f       func(context.Context) (int, error)
		cancel  bool // the caller's context ends first
		want    int
		wantErr error
	}{
		{"answers in time", func(context.Context) (int, error) { return 7, nil }, false, 7, nil},
		{"its own error", func(context.Context) (int, error) { return 0, errors.New("refused") }, false, 0, nil},
		{"ignores its context", func(context.Context) (int, error) { <-hang; return 1, nil }, false, 0, bound.ErrTimeout},
		{"gives up with its context", func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }, false, 0, bound.ErrTimeout},
		{"the caller leaves", func(context.Context) (int, error) { <-hang; return 1, nil }, true, 0, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			got, err := bound.Call(ctx, 20*time.Millisecond, tc.f)
			if got != tc.want {
				t.Errorf("value %d, want %d", got, tc.want)
			}
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("error %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && tc.name == "its own error" && (err == nil || errors.Is(err, bound.ErrTimeout)):
				t.Errorf("error %v, want f's own", err)
			case tc.wantErr == nil && tc.name != "its own error" && err != nil:
				t.Errorf("error %v, want none", err)
			}
		})
	}
}
