package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/testenv"
)

// redisClient returns a client of the test Redis (testenv.RedisAddr), or
// stops the test as testenv.NeedRedis does when it does not answer PING.
func redisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	return testenv.NeedRedis(t, testenv.RedisAddr())
}

func prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "herald-test-" + hex.EncodeToString(b) + ":"
}

// sink is a local publisher that passes what it receives to a channel.
type sink chan []notify.Entry

func (s sink) Publish(entries []notify.Entry) { s <- entries }

// next returns the next entry the sink received, waiting at most 5s.
func (s sink) next(t *testing.T) []notify.Entry {
	t.Helper()
	select {
	case es := <-s:
		return es
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

func newBus(t *testing.T, c redis.UniversalClient, p string, local bus.Publisher, reg prometheus.Registerer) *bus.Bus {
	t.Helper()
	b := bus.New(c, p, local, nil, reg)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

func entry(user notify.UserID, c notify.Cursor) notify.Entry {
	return notify.Entry{User: user, Cursor: c, Notification: &notify.Notification{
		ID: fmt.Sprintf("%s-%d", user, c), Title: "t", CreateTime: time.Now(),
	}}
}

// waitWatched waits until the bus is subscribed to n channels, as Redis
// reports them.
func waitWatched(t *testing.T, c redis.UniversalClient, p string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := c.PubSubChannels(t.Context(), p+"bus:*").Result()
		if err == nil && len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribed channels %v (err %v), want %d", got, err, n)
		}
		time.Sleep(10 * time.Millisecond) // polling Redis, bounded above
	}
}

func TestCrossNodeDelivery(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := prefix()
	regB := prometheus.NewRegistry()
	a := newBus(t, c, p, sink(make(chan []notify.Entry, 16)), nil)
	bs := sink(make(chan []notify.Entry, 16))
	b := newBus(t, c, p, bs, regB)

	b.Watch("alice")
	waitWatched(t, c, p, 1)

	// Two batches in a row: B receives them in order.
	a.Publish([]notify.Entry{entry("alice", 1), entry("alice", 2)})
	a.Publish([]notify.Entry{entry("alice", 3), entry("bob", 1)}) // bob is not watched
	a.Publish([]notify.Entry{{User: "alice", Counts: &notify.Counts{Unread: 3, Unseen: 2}}})

	var got []notify.Entry
	for len(got) < 4 {
		got = append(got, bs.next(t)...)
	}
	for i, want := range []notify.Cursor{1, 2, 3} {
		if got[i].User != "alice" || got[i].Cursor != want || got[i].Notification.ID != fmt.Sprintf("alice-%d", want) {
			t.Errorf("entry %d: %s/%d, want alice/%d", i, got[i].User, got[i].Cursor, want)
		}
	}
	if cs := got[3].Counts; cs == nil || *cs != (notify.Counts{Unread: 3, Unseen: 2}) {
		t.Errorf("read event: counts %v, want {3 2}", cs)
	}

	// Two streams, one ends: still watched. Both end: unsubscribed.
	b.Watch("alice")
	b.Unwatch("alice")
	b.Unwatch("alice")
	waitWatched(t, c, p, 0)
	a.Publish([]notify.Entry{entry("alice", 4)})
	// A marker on a watched channel proves the bus had its chance to
	// deliver alice's entry before we conclude it did not.
	b.Watch("marker")
	waitWatched(t, c, p, 1)
	a.Publish([]notify.Entry{entry("marker", 1)})
	if es := bs.next(t); es[0].User != "marker" {
		t.Fatalf("after unwatch got %s/%d, want only the marker", es[0].User, es[0].Cursor)
	}

	if got := counter(t, regB, "herald_bus_received_entries_total"); got != 5 {
		t.Errorf("received_entries_total = %v, want 5", got)
	}
}

// TestUnwatchBeforeWatch: hub hooks may arrive out of order; the bus counts.
func TestUnwatchBeforeWatch(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := prefix()
	b := newBus(t, c, p, sink(make(chan []notify.Entry, 1)), nil)
	b.Watch("u")
	b.Unwatch("u") // the first stream's end...
	b.Unwatch("u") // ...and a second stream's end, reported before its start
	b.Watch("u")
	b.Watch("v")
	waitWatched(t, c, p, 1) // only v
	got, _ := c.PubSubChannels(t.Context(), p+"bus:*").Result()
	if len(got) != 1 {
		t.Fatalf("channels %v, want v's only", got)
	}
}

func TestDecodeErrorCounted(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := prefix()
	reg := prometheus.NewRegistry()
	bs := sink(make(chan []notify.Entry, 4))
	b := newBus(t, c, p, bs, reg)
	b.Watch("u")
	waitWatched(t, c, p, 1)
	chans, _ := c.PubSubChannels(t.Context(), p+"bus:*").Result()
	if err := c.Publish(t.Context(), chans[0], "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	pub := newBus(t, c, p, sink(make(chan []notify.Entry, 1)), nil)
	pub.Publish([]notify.Entry{entry("u", 1)})
	if es := bs.next(t); es[0].Cursor != 1 {
		t.Fatalf("got cursor %d, want 1", es[0].Cursor)
	}
	if got := counter(t, reg, "herald_bus_decode_errors_total"); got != 1 {
		t.Errorf("decode_errors_total = %v, want 1", got)
	}
}

// TestReconnectResubscribes kills the bus's subscriber connection: go-redis
// reconnects and re-subscribes; the user's newest entry in the store is
// handed to the local streams without waiting for another one (what was
// published meanwhile never arrived), and later messages arrive again.
func TestReconnectResubscribes(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := prefix()
	// The subscriber's connections carry a name of this test's own, so
	// that only they are killed.
	name := "bus-test-" + p[len("herald-test-"):len(p)-1]
	sc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(), ClientName: name})
	t.Cleanup(func() { sc.Close() })
	bs := sink(make(chan []notify.Entry, 16))
	b := newBus(t, sc, p, bs, nil)
	asked := make(chan notify.UserID, 4)
	b.RecoverWith(func(_ context.Context, u notify.UserID) ([]notify.Entry, error) {
		asked <- u
		return []notify.Entry{entry(u, 98), entry(u, 99)}, nil // the newest entries in the store
	})
	pub := newBus(t, c, p, sink(make(chan []notify.Entry, 1)), nil)
	b.Watch("u")
	if err := b.WaitLive(t.Context(), "u"); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-asked:
		t.Fatalf("newest entry of %s asked for on the first subscription", u)
	default:
	}

	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, id := range pubsubClientIDs(list, name) {
		if c.ClientKillByFilter(t.Context(), "ID", id).Err() == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no pub/sub connection found to kill")
	}
	// Nothing is published: the recovery comes by itself.
	if es := bs.next(t); len(es) != 2 || es[0].Cursor != 98 || es[1].Cursor != 99 || <-asked != "u" {
		t.Fatalf("after the reconnect got %v, want u's newest entries, 98 and 99", es)
	}
	// Publish until one arrives: messages sent while the subscriber is
	// reconnecting are lost, which is what gap fill is for.
	deadline := time.Now().Add(10 * time.Second)
	for cur := notify.Cursor(1); ; cur++ {
		pub.Publish([]notify.Entry{entry("u", cur)})
		select {
		case es := <-bs:
			if es[0].User != "u" {
				t.Fatalf("got %s", es[0].User)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after reconnect within 10s")
		}
	}
}

// pubsubClientIDs returns the IDs of connections named name in CLIENT LIST
// output that are subscribed to at least one channel.
func pubsubClientIDs(list, name string) []string {
	var ids []string
	var id string
	var named, sub bool
	for _, f := range append(splitFields(list), "\n") {
		switch {
		case f == "\n":
			if named && sub && id != "" {
				ids = append(ids, id)
			}
			id, named, sub = "", false, false
		case strings.HasPrefix(f, "id="):
			id = f[3:]
		case f == "name="+name:
			named = true
		case strings.HasPrefix(f, "sub=") && f != "sub=0":
			sub = true
		}
	}
	return ids
}

// splitFields splits CLIENT LIST output into fields and "\n" markers.
func splitFields(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			if s[i] == '\n' {
				out = append(out, "\n")
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
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

// WaitLive returns once Redis confirmed the user's subscription: an entry
// published right after it reaches the node, also for a user watched again
// before the previous unsubscribe went out.
func TestWaitLive(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := prefix()
	a := newBus(t, c, p, sink(make(chan []notify.Entry, 16)), nil)
	bs := sink(make(chan []notify.Entry, 16))
	b := newBus(t, c, p, bs, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := b.WaitLive(ctx, "nobody"); err != nil {
		t.Fatalf("WaitLive of an unwatched user: %v, want nil at once", err)
	}
	for round := range 3 {
		b.Watch("alice")
		if err := b.WaitLive(ctx, "alice"); err != nil {
			t.Fatalf("round %d: WaitLive: %v", round, err)
		}
		a.Publish([]notify.Entry{entry("alice", notify.Cursor(round+1))})
		if es := bs.next(t); es[0].Cursor != notify.Cursor(round+1) {
			t.Fatalf("round %d: got cursor %d", round, es[0].Cursor)
		}
		b.Unwatch("alice")
	}
}
