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

// TestSubscribeAll checks a subscription to a user and channels: one queue
// in publish order, one connection, hooks for every key, and an eviction
// by one key's entries that unregisters it from all keys on Close.
func TestSubscribeAll(t *testing.T) {
	t.Parallel()
	h, c := newHooked()
	room := notify.Channel("rooms/a").Key()
	feed := notify.Channel("feeds/b").Key()
	s := h.SubscribeAll("u", []notify.UserID{room, feed}, 3)
	if got := h.Connections(); got != 1 {
		t.Fatalf("Connections() = %d, want 1", got)
	}
	for _, k := range []notify.UserID{"u", room, feed} {
		if got := c.get(k); got != 1 {
			t.Fatalf("hooks of %q: count %d, want 1", k, got)
		}
	}
	h.Publish([]notify.Entry{{User: room, Cursor: 7}, {User: "u", Cursor: 1}, {User: "other", Cursor: 1}, {User: feed, Cursor: 3}})
	got := s.Take(nil)
	want := []notify.Entry{{User: room, Cursor: 7}, {User: "u", Cursor: 1}, {User: feed, Cursor: 3}}
	if len(got) != len(want) {
		t.Fatalf("Take() = %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].User != want[i].User || got[i].Cursor != want[i].Cursor {
			t.Errorf("entry %d = %s/%d, want %s/%d", i, got[i].User, got[i].Cursor, want[i].User, want[i].Cursor)
		}
	}
	// Four entries of one channel overflow the queue of 3.
	h.Publish([]notify.Entry{{User: feed, Cursor: 4}, {User: feed, Cursor: 5}, {User: feed, Cursor: 6}, {User: feed, Cursor: 7}})
	<-s.Done()
	if err := s.Err(); err != hub.ErrSlowConsumer {
		t.Fatalf("Err() = %v, want ErrSlowConsumer", err)
	}
	// It stays registered under its other keys until its owner closes it.
	s.Close()
	if got := h.Connections(); got != 0 {
		t.Fatalf("Connections() after close = %d, want 0", got)
	}
	for _, k := range []notify.UserID{"u", room, feed} {
		if got := c.get(k); got != 0 {
			t.Errorf("hooks of %q after close: count %d, want 0", k, got)
		}
	}
}
