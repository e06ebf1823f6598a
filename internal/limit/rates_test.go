package limit_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/limit"
)

// TestRatesUndo: undo gives back what a take took, in real time too (a
// cancelled golang.org/x/time/rate reservation gives back nothing once its
// time has passed, which is at once for a take that did not wait), and
// never fills a bucket past its burst.
func TestRatesUndo(t *testing.T) {
	t.Parallel()
	rs := limit.NewRates()
	ctx := t.Context()
	slow := limit.Rate{PerSecond: 0.001, Burst: 3}
	if _, _, ok := rs.Take(ctx, "a", slow, 1); !ok {
		t.Fatal("first take refused")
	}
	undo, _, ok := rs.Take(ctx, "a", slow, 2)
	if !ok {
		t.Fatal("second take refused")
	}
	if _, _, ok := rs.Take(ctx, "a", slow, 1); ok {
		t.Fatal("a take from an empty bucket passed")
	}
	undo()
	if _, _, ok := rs.Take(ctx, "a", slow, 2); !ok {
		t.Fatal("the 2 given back cannot be taken")
	}
	if _, _, ok := rs.Take(ctx, "a", slow, 1); ok {
		t.Fatal("undo gave back more than it took")
	}
	if _, wait, ok := rs.Take(ctx, "a", slow, 4); ok || wait < time.Hour {
		t.Errorf("4 of a burst of 3: ok %v wait %v, want refused for ever", ok, wait)
	}
}

func TestRatesNeverPastBurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rs := limit.NewRates()
		ctx := t.Context()
		r := limit.Rate{PerSecond: 10, Burst: 2}
		undo, _, _ := rs.Take(ctx, "a", r, 2)
		time.Sleep(time.Second) // full again
		undo()
		if _, _, ok := rs.Take(ctx, "a", r, 2); !ok {
			t.Fatal("burst refused")
		}
		if _, wait, ok := rs.Take(ctx, "a", r, 1); ok || wait != 100*time.Millisecond {
			t.Fatalf("one past the burst after an undo on a full bucket: ok %v wait %v, want refused for 100ms", ok, wait)
		}
		// A lower burst holds at once.
		lower := limit.Rate{PerSecond: 10, Burst: 1}
		time.Sleep(time.Second)
		if _, _, ok := rs.Take(ctx, "a", lower, 1); !ok {
			t.Fatal("lowered burst refused")
		}
		if _, _, ok := rs.Take(ctx, "a", lower, 1); ok {
			t.Fatal("two passed at once after the burst was lowered to 1")
		}
	})
}
