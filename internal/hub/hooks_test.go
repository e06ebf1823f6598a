package hub_test

import (
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// hookCounts counts each user's OnFirst minus OnLast calls.
type hookCounts struct {
	mu sync.Mutex
	n  map[notify.UserID]int
}

func (c *hookCounts) add(u notify.UserID, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[u] += d
}

func (c *hookCounts) get(u notify.UserID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[u]
}

func newHooked() (*hub.Hub, *hookCounts) {
	c := &hookCounts{n: map[notify.UserID]int{}}
	h := hub.New(hub.Options{
		OnFirst: func(u notify.UserID) { c.add(u, 1) },
		OnLast:  func(u notify.UserID) { c.add(u, -1) },
	})
	return h, c
}

func TestHooksFirstAndLast(t *testing.T) {
	t.Parallel()
	h, c := newHooked()
	a := h.Subscribe("u", 4)
	if got := c.get("u"); got != 1 {
		t.Fatalf("after first subscribe: count %d, want 1", got)
	}
	b := h.Subscribe("u", 4)
	if got := c.get("u"); got != 1 {
		t.Fatalf("after second subscribe: count %d, want 1 (OnFirst only once)", got)
	}
	a.Close()
	if got := c.get("u"); got != 1 {
		t.Fatalf("after one close: count %d, want 1", got)
	}
	b.Close()
	b.Close() // idempotent: no second OnLast
	if got := c.get("u"); got != 0 {
		t.Fatalf("after last close: count %d, want 0", got)
	}
}

func TestHooksEvictionAndClose(t *testing.T) {
	t.Parallel()
	h, c := newHooked()
	s := h.Subscribe("slow", 1)
	_ = h.Subscribe("other", 1)
	h.Publish([]notify.Entry{entry("slow", 1), entry("slow", 2)}) // the second overflows
	<-s.Done()
	if got := c.get("slow"); got != 0 {
		t.Errorf("after eviction: count %d, want 0", got)
	}
	s.Close() // already swept: no second OnLast
	if got := c.get("slow"); got != 0 {
		t.Errorf("after close of evicted: count %d, want 0", got)
	}
	h.Close()
	if got := c.get("other"); got != 0 {
		t.Errorf("after hub close: count %d, want 0", got)
	}
}

// TestHooksConcurrentBalance churns connections of a few users from many
// goroutines; in the end every OnFirst has its OnLast.
func TestHooksConcurrentBalance(t *testing.T) {
	t.Parallel()
	h, c := newHooked()
	users := []notify.UserID{"a", "b", "c"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				s := h.Subscribe(users[(g+i)%len(users)], 2)
				if i%7 == 0 {
					h.Publish([]notify.Entry{entry(s.User(), 1), entry(s.User(), 2), entry(s.User(), 3)})
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	for _, u := range users {
		if got := c.get(u); got != 0 {
			t.Errorf("user %s: OnFirst minus OnLast = %d, want 0", u, got)
		}
	}
}
