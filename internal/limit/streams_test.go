package limit_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/notify"
)

func TestStreamsRefusesOverMax(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := limit.NewStreams(2, reg, slog.New(slog.DiscardHandler))
	r1, ok1 := s.Acquire(t.Context(), "u")
	r2, ok2 := s.Acquire(t.Context(), "u")
	if !ok1 || !ok2 {
		t.Fatalf("first two: got %v %v, want both accepted", ok1, ok2)
	}
	if _, ok := s.Acquire(t.Context(), "u"); ok {
		t.Fatal("third stream accepted, want refused")
	}
	if _, ok := s.Acquire(t.Context(), "other"); !ok {
		t.Fatal("another user refused: limits are per user")
	}
	r1()
	r1() // a second release must not free another slot
	if got := s.Open("u"); got != 1 {
		t.Fatalf("open after release: got %d, want 1", got)
	}
	r3, ok := s.Acquire(t.Context(), "u")
	if !ok {
		t.Fatal("refused after a release")
	}
	if _, ok := s.Acquire(t.Context(), "u"); ok {
		t.Fatal("double release freed a slot")
	}
	r2()
	r3()
	if got := s.Open("u"); got != 0 {
		t.Fatalf("open after all released: got %d, want 0", got)
	}
	if got := counterValue(t, reg, "herald_limit_streams_refused_total"); got != 2 {
		t.Fatalf("refused counter: got %v, want 2", got)
	}
}

func TestStreamsUnlimited(t *testing.T) {
	t.Parallel()
	s := limit.NewStreams(0, nil, nil)
	for i := 0; i < 100; i++ {
		if _, ok := s.Acquire(t.Context(), "u"); !ok {
			t.Fatalf("stream %d refused with no limit", i)
		}
	}
}

func TestStreamsConcurrent(t *testing.T) {
	t.Parallel()
	const limitN = 8
	s := limit.NewStreams(limitN, nil, nil)
	var mu sync.Mutex
	held, peak := 0, 0
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				release, ok := s.Acquire(t.Context(), notify.UserID("u"))
				if !ok {
					continue
				}
				mu.Lock()
				held++
				peak = max(peak, held)
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				release()
			}
		}()
	}
	wg.Wait()
	if peak > limitN {
		t.Fatalf("peak %d streams held, want at most %d", peak, limitN)
	}
	if got := s.Open("u"); got != 0 {
		t.Fatalf("open at the end: got %d, want 0", got)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// ledger is a Ledger that admits while open < room and records what it
// was asked.
type ledger struct {
	mu         sync.Mutex
	room, open int
	asked      int
}

func (l *ledger) Acquire(_ context.Context, _ notify.UserID, _ int) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	if l.open >= l.room {
		return nil, false
	}
	l.open++
	return func() { l.mu.Lock(); l.open--; l.mu.Unlock() }, true
}

// TestStreamsLedger: the node's own count is checked first; the ledger's
// refusal is a refusal that leaves the local slot free; release gives
// both back once.
func TestStreamsLedger(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	l := &ledger{room: 1}
	s := limit.NewStreams(2, reg, nil, limit.WithLedger(l))
	ctx := t.Context()
	release, ok := s.Acquire(ctx, "u")
	if !ok {
		t.Fatal("first stream refused")
	}
	if _, ok := s.Acquire(ctx, "u"); ok {
		t.Fatal("accepted although the ledger refused (another node holds the other slot)")
	}
	if got := s.Open("u"); got != 1 {
		t.Fatalf("open after the ledger's refusal: %d, want 1", got)
	}
	release()
	release()
	if l.open != 0 || s.Open("u") != 0 {
		t.Fatalf("after release: ledger %d, local %d, want 0 and 0", l.open, s.Open("u"))
	}
	l.room = 10
	s.Acquire(ctx, "u")
	s.Acquire(ctx, "u")
	asked := l.asked
	if _, ok := s.Acquire(ctx, "u"); ok || l.asked != asked {
		t.Fatalf("third stream on a node with max 2: ok %v, ledger asked %d more times, want refused without asking", ok, l.asked-asked)
	}
	if got := counterValue(t, reg, "herald_limit_streams_refused_total"); got != 2 {
		t.Fatalf("refused counter: got %v, want 2", got)
	}
}
