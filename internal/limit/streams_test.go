package limit_test

import (
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
	r1, ok1 := s.Acquire("u")
	r2, ok2 := s.Acquire("u")
	if !ok1 || !ok2 {
		t.Fatalf("first two: got %v %v, want both accepted", ok1, ok2)
	}
	if _, ok := s.Acquire("u"); ok {
		t.Fatal("third stream accepted, want refused")
	}
	if _, ok := s.Acquire("other"); !ok {
		t.Fatal("another user refused: limits are per user")
	}
	r1()
	r1() // a second release must not free another slot
	if got := s.Open("u"); got != 1 {
		t.Fatalf("open after release: got %d, want 1", got)
	}
	r3, ok := s.Acquire("u")
	if !ok {
		t.Fatal("refused after a release")
	}
	if _, ok := s.Acquire("u"); ok {
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
		if _, ok := s.Acquire("u"); !ok {
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
				release, ok := s.Acquire(notify.UserID("u"))
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
