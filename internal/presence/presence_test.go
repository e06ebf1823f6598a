package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/presence"
)

// clock is a fake clock that the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                           { return c.t }
func (c *clock) advance(d time.Duration)                  { c.t = c.t.Add(d) }
func newClock() *clock                                    { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) local(l presence.Limiter) *presence.Local { return presence.NewLocal(l, c.now) }

// limiter admits up to max streams per user, like limit.Streams.
type limiter struct {
	max  int
	open map[notify.UserID]int
}

func (l *limiter) Acquire(_ context.Context, u notify.UserID) (func(), bool) {
	if l.open[u] >= l.max {
		return nil, false
	}
	l.open[u]++
	return func() { l.open[u]-- }, true
}

func (l *limiter) Open(u notify.UserID) int { return l.open[u] }

func state(t *testing.T, p *presence.Local, u notify.UserID) presence.State {
	t.Helper()
	got, err := p.Presence(t.Context(), []notify.UserID{u})
	if err != nil || len(got) != 1 {
		t.Fatalf("Presence = %v, %v", got, err)
	}
	return got[0]
}

func TestLocal(t *testing.T) {
	t.Parallel()
	c := newClock()
	lim := &limiter{max: 2, open: map[notify.UserID]int{}}
	p := c.local(lim)
	ctx := t.Context()

	if got := state(t, p, "alice"); got.Online || !got.LastSeen.IsZero() {
		t.Fatalf("never seen: %+v, want offline without last seen", got)
	}
	r1, ok := p.Acquire(ctx, "alice")
	if !ok {
		t.Fatal("first stream refused")
	}
	r2, ok := p.Acquire(ctx, "alice")
	if !ok {
		t.Fatal("second stream refused")
	}
	if _, ok := p.Acquire(ctx, "alice"); ok {
		t.Fatal("third stream admitted past the limiter's max")
	}
	if got := state(t, p, "alice"); !got.Online {
		t.Fatalf("two streams open: %+v, want online", got)
	}

	c.advance(time.Minute)
	r1()
	if got := state(t, p, "alice"); !got.Online {
		t.Fatalf("one stream still open: %+v, want online", got)
	}
	c.advance(time.Minute)
	closed := c.now()
	r2()
	r2() // a second release does nothing
	got := state(t, p, "alice")
	if got.Online || !got.LastSeen.Equal(closed) {
		t.Fatalf("all closed: %+v, want offline, last seen %v", got, closed)
	}
	if lim.open["alice"] != 0 {
		t.Errorf("limiter still counts %d streams", lim.open["alice"])
	}

	// Another stream, then offline again: last seen moves on.
	r3, _ := p.Acquire(ctx, "alice")
	c.advance(time.Hour)
	r3()
	if got := state(t, p, "alice"); got.Online || !got.LastSeen.Equal(c.now()) {
		t.Fatalf("after a later stream: %+v, want last seen %v", got, c.now())
	}
}

func TestLocalOrder(t *testing.T) {
	t.Parallel()
	c := newClock()
	p := c.local(&limiter{max: 1, open: map[notify.UserID]int{}})
	_, _ = p.Acquire(t.Context(), "bob")
	got, err := p.Presence(t.Context(), []notify.UserID{"carol", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].User != "carol" || got[0].Online || got[1].User != "bob" || !got[1].Online {
		t.Fatalf("Presence = %+v, want carol offline then bob online", got)
	}
}
