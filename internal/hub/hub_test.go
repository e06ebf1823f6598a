package hub_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

var testNotification = &notify.Notification{ID: "n1", Type: "test", Title: "hello"}

// metric returns the value of the unlabelled metric name in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func entry(user notify.UserID, c notify.Cursor) notify.Entry {
	return notify.Entry{User: user, Cursor: c, Notification: testNotification}
}

// take returns the entries queued for s, oldest first, and checks that
// Ready announced them.
func take(t *testing.T, s *hub.Subscription) []notify.Entry {
	t.Helper()
	select {
	case <-s.Ready():
	default:
		if got := s.Take(nil); len(got) > 0 {
			t.Fatalf("%d entries queued for %s without a Ready token", len(got), s.User())
		}
		return nil
	}
	var out []notify.Entry
	for _, e := range s.Take(nil) {
		out = append(out, *e)
	}
	return out
}

// cursors returns the cursors of the entries queued for s.
func cursors(t *testing.T, s *hub.Subscription) []notify.Cursor {
	t.Helper()
	var out []notify.Cursor
	for _, e := range take(t, s) {
		out = append(out, e.Cursor)
	}
	return out
}

// upTo returns the cursors from..to.
func upTo(from, to notify.Cursor) []notify.Cursor {
	var out []notify.Cursor
	for c := from; c <= to; c++ {
		out = append(out, c)
	}
	return out
}

// subscribeN opens n subscriptions of user, closed when the test ends.
func subscribeN(t *testing.T, h *hub.Hub, user notify.UserID, n int) []*hub.Subscription {
	t.Helper()
	subs := make([]*hub.Subscription, n)
	for i := range subs {
		subs[i] = h.Subscribe(user, 8)
		t.Cleanup(subs[i].Close)
	}
	return subs
}

func TestFanOutToAllConnectionsOfUser(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	h := hub.New(hub.Options{Registerer: reg})
	subs := subscribeN(t, h, "alice", 3)
	h.Publish([]notify.Entry{entry("alice", 1), entry("alice", 2)})
	for i, s := range subs {
		if got := cursors(t, s); !slices.Equal(got, upTo(1, 2)) {
			t.Errorf("sub %d: got cursors %v, want [1 2]", i, got)
		}
		if got := cursors(t, s); len(got) != 0 {
			t.Errorf("sub %d: cursors %v queued again", i, got)
		}
	}
	if got := metric(t, reg, "herald_hub_delivered_entries_total"); got != 6 {
		t.Errorf("delivered = %v, want 6", got)
	}
	if got := metric(t, reg, "herald_hub_published_entries_total"); got != 2 {
		t.Errorf("published = %v, want 2", got)
	}
	if got := metric(t, reg, "herald_hub_connections"); got != 3 {
		t.Errorf("connections = %v, want 3", got)
	}
}

// Closing any one of a user's subscriptions, first, middle or last, leaves
// the others receiving.
func TestCloseOneOfSeveral(t *testing.T) {
	t.Parallel()
	for closed := range 3 {
		t.Run(fmt.Sprint("closed=", closed), func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			h := hub.New(hub.Options{Registerer: reg})
			subs := subscribeN(t, h, "alice", 3)
			subs[closed].Close()
			h.Publish([]notify.Entry{entry("alice", 1)})
			for i, s := range subs {
				want := []notify.Cursor{1}
				if i == closed {
					want = nil
				}
				if got := cursors(t, s); !slices.Equal(got, want) {
					t.Errorf("sub %d: cursors %v, want %v", i, got, want)
				}
			}
			if got := metric(t, reg, "herald_hub_connections"); got != 2 {
				t.Errorf("connections = %v, want 2", got)
			}
		})
	}
}

func TestUsersAreIsolated(t *testing.T) {
	t.Parallel()
	h := hub.New(hub.Options{Shards: 1}) // one shard: isolation must not come from sharding
	a := h.Subscribe("alice", 8)
	defer a.Close()
	b := h.Subscribe("bob", 8)
	defer b.Close()
	h.Publish([]notify.Entry{entry("alice", 1), entry("bob", 7), entry("carol", 3), entry("alice", 2)})
	for _, tt := range []struct {
		s    *hub.Subscription
		want []notify.Cursor
	}{{a, []notify.Cursor{1, 2}}, {b, []notify.Cursor{7}}} {
		got := take(t, tt.s)
		var cs []notify.Cursor
		for _, e := range got {
			if e.User != tt.s.User() {
				t.Errorf("%s got an entry of %s", tt.s.User(), e.User)
			}
			cs = append(cs, e.Cursor)
		}
		if !slices.Equal(cs, tt.want) {
			t.Errorf("%s got cursors %v, want %v", tt.s.User(), cs, tt.want)
		}
	}
}

func TestOverflowEvictsWithoutBlocking(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	h := hub.New(hub.Options{Registerer: reg})
	slow := h.Subscribe("alice", 2)
	defer slow.Close()
	fast := h.Subscribe("alice", 16)
	defer fast.Close()

	published := make(chan struct{})
	go func() {
		defer close(published)
		for c := notify.Cursor(1); c <= 10; c++ {
			h.Publish([]notify.Entry{entry("alice", c)})
		}
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a full queue")
	}

	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscription was not evicted")
	}
	if !errors.Is(slow.Err(), hub.ErrSlowConsumer) {
		t.Errorf("slow.Err() = %v, want ErrSlowConsumer", slow.Err())
	}
	if fast.Err() != nil {
		t.Errorf("fast.Err() = %v, want nil", fast.Err())
	}
	if got := cursors(t, fast); !slices.Equal(got, upTo(1, 10)) {
		t.Fatalf("fast got %v, want 1 to 10", got)
	}
	// The evicted queue keeps what it had, and nothing after the overflow.
	if got := cursors(t, slow); !slices.Equal(got, upTo(1, 2)) {
		t.Errorf("slow got %v, want [1 2]", got)
	}
	if got := metric(t, reg, "herald_hub_evictions_total"); got != 1 {
		t.Errorf("evictions = %v, want 1", got)
	}
	if got := h.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	h := hub.New(hub.Options{Registerer: reg})
	s := h.Subscribe("alice", 1)
	if s.Err() != nil {
		t.Fatalf("Err() before Close = %v", s.Err())
	}
	for range 3 {
		s.Close()
	}
	<-s.Done()
	if !errors.Is(s.Err(), notify.ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", s.Err())
	}
	if got := h.Connections(); got != 0 {
		t.Errorf("Connections() = %d, want 0", got)
	}
	if got := metric(t, reg, "herald_hub_connections"); got != 0 {
		t.Errorf("connections gauge = %v, want 0", got)
	}
	h.Publish([]notify.Entry{entry("alice", 1)})
	if got := cursors(t, s); len(got) != 0 {
		t.Errorf("closed subscription got %v", got)
	}

	// Closing after an eviction does not count the connection twice.
	e := h.Subscribe("bob", 1)
	h.Publish([]notify.Entry{entry("bob", 1), entry("bob", 2)})
	e.Close()
	e.Close()
	if got := metric(t, reg, "herald_hub_connections"); got != 0 {
		t.Errorf("connections gauge after eviction and Close = %v, want 0", got)
	}
	if !errors.Is(e.Err(), hub.ErrSlowConsumer) {
		t.Errorf("evicted Err() after Close = %v, want ErrSlowConsumer", e.Err())
	}
}

func TestHubClose(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	h := hub.New(hub.Options{Registerer: reg})
	s := h.Subscribe("alice", 1)
	h.Close()
	h.Close()
	<-s.Done()
	if !errors.Is(s.Err(), notify.ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", s.Err())
	}
	late := h.Subscribe("alice", 1)
	<-late.Done()
	if !errors.Is(late.Err(), notify.ErrClosed) {
		t.Errorf("late Err() = %v, want ErrClosed", late.Err())
	}
	late.Close()
	s.Close()
	if got := metric(t, reg, "herald_hub_connections"); got != 0 {
		t.Errorf("connections gauge = %v, want 0", got)
	}
}

func TestShardOptions(t *testing.T) {
	t.Parallel()
	for _, shards := range []int{-1, 0, 1, 3, 64, 100} {
		t.Run(fmt.Sprint(shards), func(t *testing.T) {
			t.Parallel()
			h := hub.New(hub.Options{Shards: shards})
			var subs []*hub.Subscription
			for i := range 50 {
				subs = append(subs, h.Subscribe(notify.UserID(fmt.Sprint("u", i)), 1))
			}
			var es []notify.Entry
			for i := range 50 {
				es = append(es, entry(notify.UserID(fmt.Sprint("u", i)), notify.Cursor(i+1)))
			}
			h.Publish(es)
			for i, s := range subs {
				if got := cursors(t, s); !slices.Equal(got, []notify.Cursor{notify.Cursor(i + 1)}) {
					t.Errorf("u%d got %v", i, got)
				}
				s.Close()
			}
		})
	}
}

// TestConcurrency races publishers, subscribers, readers and closers; run it
// with -race.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	h := hub.New(hub.Options{Shards: 4, Registerer: reg})
	users := []notify.UserID{"a", "b", "c", "d", "e"}
	const rounds = 200
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Go(func() {
			for i := range rounds {
				u := users[(i+p)%len(users)]
				h.Publish([]notify.Entry{entry(u, notify.Cursor(i+1)), entry(users[i%len(users)], notify.Cursor(i+1))})
			}
		})
	}
	for c := range 4 {
		wg.Go(func() {
			for i := range rounds {
				s := h.Subscribe(users[(i+c)%len(users)], 1+i%4)
				for range 2 {
					select {
					case <-s.Ready():
						_ = s.Take(nil)
					case <-s.Done():
					default:
					}
				}
				_ = s.Err()
				s.Close()
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			_ = h.Connections()
		}
	})
	wg.Wait()
	if got := h.Connections(); got != 0 {
		t.Errorf("Connections() = %d after all closed, want 0", got)
	}
	if got := metric(t, reg, "herald_hub_connections"); got != 0 {
		t.Errorf("connections gauge = %v, want 0", got)
	}
}

// TestReadyAfterTake: an entry published after the owner took the queue is
// announced again, and a burst is taken at once, in order.
func TestReadyAfterTake(t *testing.T) {
	t.Parallel()
	h := hub.New(hub.Options{})
	s := h.Subscribe("alice", 256)
	defer s.Close()
	var burst []notify.Entry
	for c := notify.Cursor(1); c <= 100; c++ {
		burst = append(burst, entry("alice", c))
	}
	h.Publish(burst)
	if got := cursors(t, s); !slices.Equal(got, upTo(1, 100)) {
		t.Fatalf("burst: got %d cursors, want 1 to 100", len(got))
	}
	for c := notify.Cursor(101); c <= 103; c++ {
		h.Publish([]notify.Entry{entry("alice", c)})
		if got := cursors(t, s); !slices.Equal(got, []notify.Cursor{c}) {
			t.Fatalf("after a take: got %v, want [%d]", got, c)
		}
	}
	if s.Err() != nil {
		t.Fatalf("Err() = %v after %d entries within the limit", s.Err(), 103)
	}
}
