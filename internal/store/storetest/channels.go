package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// ChannelOptions are what a channel test opens its store with.
type ChannelOptions struct {
	Hook store.CommitHook
	// History and Age are the store's ChannelHistory and
	// ChannelHistoryAge; zero for the defaults.
	History int
	Age     time.Duration
	// Now is the store's clock; nil for time.Now. A store given one must
	// not age anything by another clock before the test is done (the
	// embedded store's own sweep, say).
	Now func() time.Time
}

// OpenChannels opens a fresh, empty store with o.
type OpenChannels func(t *testing.T, o ChannelOptions) store.Store

// RunChannels runs the contract tests of store.Channels against the
// backend that open opens.
func RunChannels(t *testing.T, open OpenChannels) {
	tests := []struct {
		name string
		fn   func(*testing.T, OpenChannels)
	}{
		{"OffsetsIncrease", testOffsetsIncrease},
		{"ReadAfterLimit", testChannelReadPaging},
		{"TrimByCount", testChannelTrim},
		{"Age", testChannelAge},
		{"HistoryFromOldest", testChannelHistory},
		{"BeyondNewest", testChannelBeyond},
		{"Idempotent", testChannelIdempotent},
		{"ExpiredLeftOut", testChannelExpired},
		{"SeveralChannels", testSeveralChannels},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"CancelledAndClosed", testChannelCancelled},
	}
	t.Run("Channels", func(t *testing.T) {
		t.Parallel()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.fn(t, open)
			})
		}
	})
}

// Clock is a clock for the store under test, moved by the test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustPublish(t *testing.T, s store.Store, n *notify.Notification, chs ...notify.Channel) []notify.Cursor {
	t.Helper()
	offs, err := s.Publish(t.Context(), n, chs)
	if err != nil {
		t.Fatalf("Publish(%s to %v): %v", n.ID, chs, err)
	}
	if len(offs) != len(chs) {
		t.Fatalf("Publish(%s to %v) = %v: want %d offsets", n.ID, chs, offs, len(chs))
	}
	return offs
}

// publishN publishes n notifications titled prefix0… to ch, one call each,
// and returns their offsets.
func publishN(t *testing.T, s store.Store, ch notify.Channel, prefix string, n int) []notify.Cursor {
	t.Helper()
	var offs []notify.Cursor
	for i := range n {
		offs = append(offs, mustPublish(t, s, newNotification(fmt.Sprintf("%s%d", prefix, i)), ch)[0])
	}
	return offs
}

func mustChannelRead(t *testing.T, s store.Store, ch notify.Channel, after notify.Cursor, limit int) []notify.Entry {
	t.Helper()
	es, err := s.ChannelRead(t.Context(), ch, after, limit)
	if err != nil {
		t.Fatalf("ChannelRead(%s, after %d, limit %d): %v", ch, after, limit, err)
	}
	return es
}

func mustChannelLast(t *testing.T, s store.Store, ch notify.Channel) notify.Cursor {
	t.Helper()
	c, err := s.ChannelLast(t.Context(), ch)
	if err != nil {
		t.Fatalf("ChannelLast(%s): %v", ch, err)
	}
	return c
}

func wantExpired(t *testing.T, s store.Store, ch notify.Channel, after notify.Cursor) {
	t.Helper()
	es, err := s.ChannelRead(t.Context(), ch, after, 10)
	if !errors.Is(err, notify.ErrCursorExpired) {
		t.Errorf("ChannelRead(%s, after %d) = %d events, %v; want ErrCursorExpired", ch, after, len(es), err)
	}
}

func titles(es []notify.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Notification.Title)
	}
	return out
}

func offsetsOf(es []notify.Entry) []notify.Cursor {
	out := []notify.Cursor{}
	for _, e := range es {
		out = append(out, e.Cursor)
	}
	return out
}

func checkIncreasing(t *testing.T, what string, cs []notify.Cursor) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		if cs[i] <= cs[i-1] {
			t.Fatalf("%s: offsets %v do not increase strictly at %d", what, cs, i)
		}
	}
}

func testOffsetsIncrease(t *testing.T, open OpenChannels) {
	rec := &recorder{}
	s := open(t, ChannelOptions{Hook: rec.hook})
	const ch = notify.Channel("rooms/developers")
	if got := mustChannelLast(t, s, ch); got != 0 {
		t.Errorf("ChannelLast of a new channel = %d, want 0", got)
	}
	before := store.ChannelEpoch(time.Now())
	offs := publishN(t, s, ch, "e", 5)
	checkIncreasing(t, "Publish", offs)
	if offs[0] < before {
		t.Errorf("first offset %d below the epoch %d of the time it was published", offs[0], before)
	}
	if got := mustChannelLast(t, s, ch); got != offs[4] {
		t.Errorf("ChannelLast = %d, want %d", got, offs[4])
	}
	es := mustChannelRead(t, s, ch, 0, 0)
	if got := offsetsOf(es); !slices.Equal(got, offs) {
		t.Errorf("ChannelRead offsets = %v, want %v", got, offs)
	}
	for _, e := range es {
		if e.User != ch.Key() {
			t.Errorf("event %d: User %q, want the channel's key %q", e.Cursor, e.User, ch.Key())
		}
	}
	// The hook got the events in offset order, under the channel's key.
	if got := rec.byUser()[ch.Key()]; !slices.Equal(got, offs) {
		t.Errorf("hook got offsets %v, want %v", got, offs)
	}
}

func testChannelReadPaging(t *testing.T, open OpenChannels) {
	s := open(t, ChannelOptions{})
	const ch = notify.Channel("scores/match-42")
	offs := publishN(t, s, ch, "e", 10)
	tests := []struct {
		name  string
		after notify.Cursor
		limit int
		want  []string
	}{
		{"all from the start", 0, 0, []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"}},
		{"first page", 0, 3, []string{"e0", "e1", "e2"}},
		{"middle page", offs[2], 3, []string{"e3", "e4", "e5"}},
		{"last page, short", offs[7], 5, []string{"e8", "e9"}},
		{"at the newest", offs[9], 5, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := titles(mustChannelRead(t, s, ch, tc.after, tc.limit))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ChannelRead(after %d, limit %d) = %v, want %v", tc.after, tc.limit, got, tc.want)
			}
		})
	}
	// Other channels are apart.
	if es := mustChannelRead(t, s, "scores/match-43", 0, 0); len(es) != 0 {
		t.Errorf("another channel holds %d events", len(es))
	}
}

func testChannelTrim(t *testing.T, open OpenChannels) {
	const keep = 5
	s := open(t, ChannelOptions{History: keep})
	const ch = notify.Channel("ticker/acme")
	offs := publishN(t, s, ch, "e", keep+3) // e0..e2 trimmed
	got := mustChannelRead(t, s, ch, offs[2], 0)
	if want := []string{"e3", "e4", "e5", "e6", "e7"}; !slices.Equal(titles(got), want) {
		t.Errorf("ChannelRead after the newest trimmed = %v, want %v", titles(got), want)
	}
	if got := mustChannelRead(t, s, ch, offs[5], 0); !slices.Equal(titles(got), []string{"e6", "e7"}) {
		t.Errorf("ChannelRead after a retained one = %v, want [e6 e7]", titles(got))
	}
	for _, after := range []notify.Cursor{0, offs[0], offs[1]} {
		wantExpired(t, s, ch, after)
	}
	// Offsets go on from the newest.
	next := mustPublish(t, s, newNotification("e8"), ch)[0]
	if next <= offs[len(offs)-1] {
		t.Errorf("offset after trimming = %d, want above %d", next, offs[len(offs)-1])
	}
	wantExpired(t, s, ch, offs[2])
}

func testChannelAge(t *testing.T, open OpenChannels) {
	clk := NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, ChannelOptions{Age: time.Hour, Now: clk.Now})
	const ch = notify.Channel("status/api")
	old := publishN(t, s, ch, "old", 2)
	if want := store.ChannelEpoch(clk.Now()); old[0] < want {
		t.Errorf("first offset %d, want at least the epoch %d", old[0], want)
	}
	clk.Advance(45 * time.Minute)
	young := mustPublish(t, s, newNotification("young"), ch)[0]
	clk.Advance(30 * time.Minute) // old* are 75 minutes old, young 30

	for _, after := range []notify.Cursor{0, old[0]} {
		wantExpired(t, s, ch, after)
	}
	if got := mustChannelRead(t, s, ch, old[1], 0); !slices.Equal(titles(got), []string{"young"}) {
		t.Errorf("ChannelRead after the aged = %v, want [young]", titles(got))
	}

	clk.Advance(time.Hour) // everything aged out: the history is empty
	if got := mustChannelRead(t, s, ch, young, 0); len(got) != 0 {
		t.Errorf("ChannelRead after the newest = %v, want none", titles(got))
	}
	wantExpired(t, s, ch, old[1])
	next := mustPublish(t, s, newNotification("anew"), ch)[0]
	if next <= young || next < store.ChannelEpoch(clk.Now()) {
		t.Errorf("new history's first offset = %d, want above %d and at least the epoch %d", next, young, store.ChannelEpoch(clk.Now()))
	}
	if got := mustChannelRead(t, s, ch, young, 0); !slices.Equal(titles(got), []string{"anew"}) {
		t.Errorf("ChannelRead after the old newest = %v, want [anew]", titles(got))
	}
	wantExpired(t, s, ch, old[1])
	if got := mustChannelLast(t, s, ch); got != next {
		t.Errorf("ChannelLast = %d, want %d", got, next)
	}
}

// testChannelHistory checks ChannelHistory: the oldest retained events,
// whole, trimmed by count, aged, and empty.
func testChannelHistory(t *testing.T, open OpenChannels) {
	clk := NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, ChannelOptions{History: 5, Age: time.Hour, Now: clk.Now})
	const ch = notify.Channel("rooms/history")
	history := func(limit int) []string {
		t.Helper()
		es, err := s.ChannelHistory(t.Context(), ch, limit)
		if err != nil {
			t.Fatalf("ChannelHistory(%s, %d): %v", ch, limit, err)
		}
		return titles(es)
	}
	if got := history(10); len(got) != 0 {
		t.Errorf("history of a new channel = %v, want none", got)
	}
	publishN(t, s, ch, "a", 3)
	if got := history(10); !slices.Equal(got, []string{"a0", "a1", "a2"}) {
		t.Errorf("whole history = %v", got)
	}
	clk.Advance(45 * time.Minute)
	publishN(t, s, ch, "b", 4) // a0 and a1 trimmed by count
	if got := history(3); !slices.Equal(got, []string{"a2", "b0", "b1"}) {
		t.Errorf("history trimmed by count, limit 3 = %v", got)
	}
	clk.Advance(30 * time.Minute) // a2 is past the age
	if got := history(10); !slices.Equal(got, []string{"b0", "b1", "b2", "b3"}) {
		t.Errorf("history with an aged event = %v", got)
	}
	clk.Advance(time.Hour)
	if got := history(10); len(got) != 0 {
		t.Errorf("history all aged = %v, want none", got)
	}
}

func testChannelBeyond(t *testing.T, open OpenChannels) {
	s := open(t, ChannelOptions{})
	const ch = notify.Channel("rooms/a")
	if got := mustChannelRead(t, s, ch, 0, 0); len(got) != 0 {
		t.Errorf("ChannelRead of a new channel = %v, want none", titles(got))
	}
	wantExpired(t, s, ch, 7)
	offs := publishN(t, s, ch, "e", 2)
	wantExpired(t, s, ch, offs[1]+1)
	wantExpired(t, s, ch, offs[1]+1000)
}

func testChannelIdempotent(t *testing.T, open OpenChannels) {
	rec := &recorder{}
	s := open(t, ChannelOptions{Hook: rec.hook})
	chs := []notify.Channel{"rooms/a", "rooms/b"}
	n := newNotification("once")
	first := mustPublish(t, s, n, chs...)
	mustPublish(t, s, newNotification("between"), chs[0])
	// A retry (the same ID), alone and with a channel it did not reach.
	again := mustPublish(t, s, n, chs...)
	if !slices.Equal(again, first) {
		t.Errorf("retry offsets = %v, want the first ones %v", again, first)
	}
	more := mustPublish(t, s, n, "rooms/c", chs[1])
	if more[1] != first[1] {
		t.Errorf("retry to %s = %d, want %d", chs[1], more[1], first[1])
	}
	for ch, want := range map[notify.Channel][]string{
		"rooms/a": {"once", "between"},
		"rooms/b": {"once"},
		"rooms/c": {"once"},
	} {
		if got := titles(mustChannelRead(t, s, ch, 0, 0)); !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", ch, got, want)
		}
		if got := len(rec.byUser()[ch.Key()]); got != len(want) {
			t.Errorf("hook got %d events of %s, want %d", got, ch, len(want))
		}
	}
	// A channel listed twice in one Publish gets the event once.
	twice := mustPublish(t, s, newNotification("twice"), "rooms/d", "rooms/d")
	if twice[0] != twice[1] {
		t.Errorf("a channel listed twice got offsets %v, want one", twice)
	}
	if got := titles(mustChannelRead(t, s, "rooms/d", 0, 0)); !slices.Equal(got, []string{"twice"}) {
		t.Errorf("rooms/d holds %v, want [twice]", got)
	}
}

func testChannelExpired(t *testing.T, open OpenChannels) {
	clk := NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, ChannelOptions{Now: clk.Now})
	const ch = notify.Channel("rooms/flash")
	short := newNotification("short")
	short.ExpireTime = clk.Now().Add(time.Minute)
	mustPublish(t, s, newNotification("before"), ch)
	mustPublish(t, s, short, ch)
	mustPublish(t, s, newNotification("after"), ch)
	if got := titles(mustChannelRead(t, s, ch, 0, 0)); !slices.Equal(got, []string{"before", "short", "after"}) {
		t.Errorf("before the expiry: %v", got)
	}
	clk.Advance(2 * time.Minute)
	if got := titles(mustChannelRead(t, s, ch, 0, 2)); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("after the expiry, limit 2: %v, want [before after]", got)
	}
}

func testSeveralChannels(t *testing.T, open OpenChannels) {
	rec := &recorder{}
	s := open(t, ChannelOptions{Hook: rec.hook})
	chs := []notify.Channel{"rooms/x", "rooms/y", "scores/z"}
	mustPublish(t, s, newNotification("y-only"), chs[1])
	var all [][]notify.Cursor
	for i := range 3 {
		all = append(all, mustPublish(t, s, newNotification(fmt.Sprint("all", i)), chs...))
	}
	for j, ch := range chs {
		var want []notify.Cursor
		for i := range all {
			want = append(want, all[i][j])
		}
		checkIncreasing(t, string(ch), want)
		es := mustChannelRead(t, s, ch, 0, 0)
		if got := offsetsOf(es)[len(es)-3:]; !slices.Equal(got, want) {
			t.Errorf("%s: read offsets %v, want %v", ch, got, want)
		}
		if got := rec.byUser()[ch.Key()]; !slices.Equal(got, offsetsOf(es)) {
			t.Errorf("%s: hook got %v, want %v", ch, got, offsetsOf(es))
		}
	}
}

func testConcurrentPublishers(t *testing.T, open OpenChannels) {
	rec := &recorder{}
	s := open(t, ChannelOptions{Hook: rec.hook, History: 1000})
	const (
		ch         = notify.Channel("rooms/busy")
		publishers = 8
		each       = 25
	)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[notify.Cursor]string{}
	)
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				n := newNotification(fmt.Sprintf("p%d-%d", p, i))
				offs, err := s.Publish(t.Context(), n, []notify.Channel{ch, "rooms/quiet"})
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				mu.Lock()
				if prev, dup := got[offs[0]]; dup {
					t.Errorf("offset %d given to %s and %s", offs[0], prev, n.ID)
				}
				got[offs[0]] = n.ID
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	es := mustChannelRead(t, s, ch, 0, 0)
	if len(es) != publishers*each {
		t.Fatalf("read %d events, want %d", len(es), publishers*each)
	}
	checkIncreasing(t, "ChannelRead", offsetsOf(es))
	for _, e := range es {
		if got[e.Cursor] != e.Notification.ID {
			t.Errorf("event %d is %s, its Publish was told %s", e.Cursor, e.Notification.ID, got[e.Cursor])
		}
	}
	if hooked := rec.byUser()[ch.Key()]; !slices.Equal(hooked, offsetsOf(es)) {
		t.Errorf("hook got %d offsets, in this order: %v; want the %d read, in order", len(hooked), hooked, len(es))
	}
}

func testChannelCancelled(t *testing.T, open OpenChannels) {
	s := open(t, ChannelOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Publish(ctx, newNotification("x"), []notify.Channel{"rooms/a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context: error = %v, want context.Canceled", err)
	}
	if _, err := s.ChannelRead(ctx, "rooms/a", 0, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("ChannelRead with a cancelled context: error = %v, want context.Canceled", err)
	}
	if c := mustChannelLast(t, s, "rooms/a"); c != 0 {
		t.Errorf("ChannelLast = %d after a cancelled Publish, want 0", c)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Publish(t.Context(), newNotification("x"), []notify.Channel{"rooms/a"}); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("Publish after Close: error = %v, want ErrClosed", err)
	}
}
