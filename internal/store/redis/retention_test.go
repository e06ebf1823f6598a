package redisstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRetentionByAge: entries older than RetentionAge are gone for Read,
// List, Counts and Mark at once, before any append trims them, and
// cursors go on from the last one.
func TestRetentionByAge(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := redisstore.OpenTest(t, redisstore.Options{RetentionAge: time.Hour, Now: clk.Now})
	const user = "aging"
	for _, id := range []string{"old-1", "old-2"} {
		appendOne(t, s, delivery(note(id, ""), store.Part{}, user))
	}
	clk.Advance(45 * time.Minute)
	appendOne(t, s, delivery(note("young", ""), store.Part{}, user))
	clk.Advance(30 * time.Minute) // old-* are 75 minutes old, young 30

	ctx := t.Context()
	for _, after := range []notify.Cursor{0, 1} {
		if _, err := s.Read(ctx, user, after, 10); !errors.Is(err, notify.ErrCursorExpired) {
			t.Errorf("Read(after=%d) error = %v, want ErrCursorExpired", after, err)
		}
	}
	es, err := s.Read(ctx, user, 2, 10)
	if err != nil || len(es) != 1 || es[0].Notification.ID != "young" || es[0].Cursor != 3 {
		t.Fatalf("Read(after=2) = %v, %v; want young at 3", es, err)
	}
	p, err := s.List(ctx, user, store.ListQuery{Limit: 10, Archived: store.ArchiveInclude})
	if err != nil || len(p.Entries) != 1 || p.Last != 3 || p.Counts != (notify.Counts{Unread: 1, Unseen: 1}) {
		t.Errorf("List = %+v, %v; want young only, Last 3, counts {1 1}", p, err)
	}
	if c, err := s.Counts(ctx, user); err != nil || c != (notify.Counts{Unread: 1, Unseen: 1}) {
		t.Errorf("Counts = %+v, %v; want {1 1}", c, err)
	}
	if n, _, err := s.Mark(ctx, user, store.Mark{Action: store.MarkRead, UpTo: 3}); err != nil || n != 1 {
		t.Errorf("Mark up to 3 changed %d (%v), want 1", n, err)
	}

	clk.Advance(time.Hour) // everything aged out
	if es, err := s.Read(ctx, user, 3, 10); err != nil || len(es) != 0 {
		t.Errorf("Read(after=3) = %v, %v; want nothing", es, err)
	}
	if _, err := s.Read(ctx, user, 2, 10); !errors.Is(err, notify.ErrCursorExpired) {
		t.Errorf("Read(after=2) error = %v, want ErrCursorExpired", err)
	}
	appendOne(t, s, delivery(note("new", ""), store.Part{}, user))
	es, err = s.Read(ctx, user, 3, 10)
	if err != nil || len(es) != 1 || es[0].Cursor != 4 {
		t.Errorf("Read after an append = %v, %v; want cursor 4", es, err)
	}
}
