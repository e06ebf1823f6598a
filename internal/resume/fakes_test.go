package resume_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// source is an in-memory Source of one user's entries with a live feed.
type source struct {
	mu      sync.Mutex
	entries []notify.Entry
	floor   notify.Cursor // a Read after a cursor below it is ErrCursorExpired
	readErr error
	feed    *feed
	gen     int // bumped by lose: later entries are other notifications
}

// lose drops the newest n entries, as a Redis failover that lost writes
// does: the counter goes back, and the next entries reuse those cursors
// for other notifications.
func (s *source) lose(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = s.entries[:len(s.entries)-n]
	s.gen++
}

// store adds n entries without publishing them, as when the bus lost them.
func (s *source) store(n int) []notify.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]notify.Entry, n)
	for i := range out {
		c := notify.Cursor(len(s.entries) + 1)
		id := fmt.Sprint(c)
		if s.gen > 0 {
			id = fmt.Sprintf("%d.%d", s.gen, c)
		}
		out[i] = notify.Entry{User: "alice", Cursor: c, Notification: &notify.Notification{ID: id}}
		s.entries = append(s.entries, out[i])
	}
	return out
}

// commit adds n entries and publishes them.
func (s *source) commit(n int) {
	es := s.store(n)
	for i := range es {
		s.feed.publish(&es[i])
	}
}

func (s *source) Subscribe(notify.UserID, []notify.UserID, int) resume.Feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feed = &feed{ready: make(chan struct{}, 1), done: make(chan struct{})}
	return s.feed
}

func (s *source) Read(_ context.Context, _ notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr != nil {
		return nil, s.readErr
	}
	if after < s.floor || after > notify.Cursor(len(s.entries)) {
		return nil, notify.ErrCursorExpired
	}
	var out []notify.Entry
	for _, e := range s.entries {
		if e.Cursor > after && e.Cursor >= s.floor && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *source) Last(context.Context, notify.UserID) (notify.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return notify.Cursor(len(s.entries)), nil
}

// feed is a live subscription.
type feed struct {
	mu     sync.Mutex
	queue  []*notify.Entry
	ready  chan struct{}
	done   chan struct{}
	err    error
	closed bool
}

func (f *feed) publish(e *notify.Entry) {
	f.mu.Lock()
	f.queue = append(f.queue, e)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

func (f *feed) Ready() <-chan struct{} { return f.ready }
func (f *feed) Done() <-chan struct{}  { return f.done }

func (f *feed) Take(buf []*notify.Entry) []*notify.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	buf = append(buf[:0], f.queue...)
	f.queue = f.queue[:0]
	return buf
}

func (f *feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *feed) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed, f.err = true, err
		close(f.done)
	}
}

func (f *feed) Close() { f.end(nil) }

// sink records what a stream sends, one word per frame and "|" per flush.
type sink struct {
	mu      sync.Mutex
	frames  []string
	batch   bool
	failing error  // Flush fails with it
	onFlush func() // called by Flush, as a Send that blocks would be cut off
}

func (s *sink) add(f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.batch {
		panic("frame outside a batch: " + f)
	}
	s.frames = append(s.frames, f)
}

func (s *sink) Begin(time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch = true
}

func (s *sink) Entry(e *notify.Entry, _ []byte) {
	if e.Counts != nil {
		s.add(fmt.Sprintf("read%d", e.Counts.Unread))
		return
	}
	s.add(e.Cursor.String())
}

func (s *sink) Control(c resume.Control) {
	switch c.Kind {
	case resume.Open:
		s.add("open")
	case resume.Reset:
		s.add("reset" + c.Cursor.String())
	case resume.TokenExpired:
		s.add("expired")
	case resume.Shutdown:
		s.add("shutdown")
	}
}

func (s *sink) Heartbeat() { s.add("hb") }

func (s *sink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch = false
	s.frames = append(s.frames, "|")
	if s.onFlush != nil {
		s.onFlush()
	}
	return s.failing
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.frames, " ")
}

var errBoom = errors.New("boom")
