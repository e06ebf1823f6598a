package backoff_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/backoff"
)

func TestNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		min, max time.Duration
		// The upper bound of each delay in turn; each lies in [bound/2, bound].
		bounds []time.Duration
	}{
		{"doubles to the cap", 50 * time.Millisecond, 300 * time.Millisecond,
			[]time.Duration{50, 100, 200, 300, 300}},
		{"min is max", time.Second, time.Second,
			[]time.Duration{1000, 1000, 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 50 { // the jitter is random: many draws
				b := &backoff.Backoff{Min: tc.min, Max: tc.max}
				for i, bound := range tc.bounds {
					bound *= time.Millisecond
					if d := b.Next(); d < bound/2 || d > bound {
						t.Fatalf("delay %d = %v, want within [%v, %v]", i, d, bound/2, bound)
					}
				}
				b.Reset()
				if d := b.Next(); d < tc.min/2 || d > tc.min {
					t.Fatalf("after Reset: %v, want within [%v, %v]", d, tc.min/2, tc.min)
				}
			}
		})
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := &backoff.Backoff{Min: time.Second, Max: time.Second}
		start := time.Now()
		if !b.Wait(t.Context()) {
			t.Fatal("Wait reported the context ended")
		}
		if d := time.Since(start); d < time.Second/2 || d > time.Second {
			t.Errorf("waited %v, want within [0.5s, 1s]", d)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if b.Wait(ctx) {
			t.Error("Wait on an ended context reported true")
		}
	})
}
