package resume_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// multi is an in-memory Source of several keys (a user and channels), with
// one live feed for all.
type multi struct {
	mu      sync.Mutex
	entries map[notify.UserID][]notify.Entry
	base    map[notify.UserID]notify.Cursor // the first position of a key, minus one
	floor   map[notify.UserID]notify.Cursor // a Read after a position below it is ErrCursorExpired
	feed    *feed
	keys    []notify.UserID
}

func newMulti() *multi {
	return &multi{entries: map[notify.UserID][]notify.Entry{}, base: map[notify.UserID]notify.Cursor{}, floor: map[notify.UserID]notify.Cursor{}}
}

func (m *multi) last(key notify.UserID) notify.Cursor {
	if es := m.entries[key]; len(es) > 0 {
		return es[len(es)-1].Cursor
	}
	return m.base[key]
}

// commit stores n entries of key and publishes them unless quiet.
func (m *multi) commit(key notify.UserID, n int, quiet bool) {
	m.mu.Lock()
	out := make([]notify.Entry, n)
	for i := range out {
		c := m.last(key) + 1
		out[i] = notify.Entry{User: key, Cursor: c, Notification: &notify.Notification{ID: fmt.Sprintf("%s-%d", key, c)}}
		m.entries[key] = append(m.entries[key], out[i])
	}
	f := m.feed
	m.mu.Unlock()
	if quiet || f == nil {
		return
	}
	for i := range out {
		f.publish(&out[i])
	}
}

func (m *multi) Subscribe(key notify.UserID, more []notify.UserID, _ int) resume.Feed {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.feed = &feed{ready: make(chan struct{}, 1), done: make(chan struct{})}
	m.keys = append([]notify.UserID{key}, more...)
	return m.feed
}

func (m *multi) Read(_ context.Context, key notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if after < m.floor[key] || after > m.last(key) {
		return nil, notify.ErrCursorExpired
	}
	var out []notify.Entry
	for _, e := range m.entries[key] {
		if e.Cursor > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *multi) Last(_ context.Context, key notify.UserID) (notify.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last(key), nil
}

// idSink records each entry as its stream cursor and each reset as
// "reset:<channel or inbox>:<cursor>".
type idSink struct {
	mu     sync.Mutex
	frames []string
}

func (s *idSink) Begin(time.Time) {}
func (s *idSink) Entry(e *notify.Entry, id []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, string(id))
}

func (s *idSink) Control(c resume.Control) {
	if c.Kind != resume.Reset {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := string(c.Channel)
	if name == "" {
		name = "inbox"
	}
	s.frames = append(s.frames, "reset:"+name+":"+string(c.ID))
}
func (s *idSink) Heartbeat()   {}
func (s *idSink) Flush() error { return nil }

func (s *idSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.frames
	s.frames = nil
	return out
}

// TestStreamOfSources runs streams of an inbox and channels: each source
// resumes from its own position in the one cursor, a source whose history
// no longer reaches it is reset alone, and live entries of every source
// carry the cursor of all.
func TestStreamOfSources(t *testing.T) {
	t.Parallel()
	const (
		room notify.Channel = "rooms/a"
		feed notify.Channel = "feeds/b"
	)
	rk, fk := room.Key(), feed.Key()
	rh, fh := resume.ChannelHash(room), resume.ChannelHash(feed)
	if fh > rh {
		t.Fatal("the cases expect feed's hash below room's: sources replay in hash order")
	}
	// pos spells a cursor of alice's stream on both channels.
	pos := func(inbox, r, f notify.Cursor) string {
		p := resume.InboxPosition(inbox)
		p.Channels = []resume.ChannelOffset{{Hash: fh, Offset: f}, {Hash: rh, Offset: r}}
		return p.String()
	}
	tests := []struct {
		name   string
		before func(*multi)
		after  string // the client's cursor; "" for a new stream
		user   notify.UserID
		live   func(*multi)
		want   []string
	}{
		{
			name: "each source resumes from its own position, in source order, then live",
			before: func(m *multi) {
				m.commit("alice", 3, true)
				m.commit(rk, 4, true)
				m.commit(fk, 2, true)
			},
			after: pos(1, 2, 0),
			user:  "alice",
			live:  func(m *multi) { m.commit(fk, 1, false); m.commit("alice", 1, false); m.commit(rk, 1, false) },
			want: []string{
				pos(2, 2, 0), pos(3, 2, 0), // inbox
				pos(3, 2, 1), pos(3, 2, 2), // feed: its hash is the lower
				pos(3, 3, 2), pos(3, 4, 2), // room
				pos(3, 4, 3), pos(4, 4, 3), pos(4, 5, 3), // live, as published
			},
		},
		{
			name: "a channel past its history is reset alone",
			before: func(m *multi) {
				m.commit("alice", 2, true)
				m.commit(rk, 30, true)
				m.floor[rk] = 20
				m.commit(fk, 2, true)
			},
			after: pos(1, 5, 1),
			user:  "alice",
			live:  func(m *multi) { m.commit(rk, 1, false) },
			want: []string{
				pos(2, 5, 1),
				pos(2, 5, 2),
				"reset:" + string(room) + ":" + pos(2, 30, 2),
				pos(2, 31, 2),
			},
		},
		{
			name: "a new stream starts every source at its newest, which its cursor holds",
			before: func(m *multi) {
				m.commit("alice", 2, true)
				m.commit(rk, 7, true)
			},
			user: "alice",
			live: func(m *multi) { m.commit(rk, 1, false); m.commit(fk, 1, false) },
			want: []string{pos(2, 8, 0), pos(2, 8, 1)},
		},
		{
			name: "a plain inbox cursor resumes the inbox and starts the channels live",
			before: func(m *multi) {
				m.commit("alice", 3, true)
				m.commit(rk, 7, true)
			},
			after: "1",
			user:  "alice",
			live:  func(m *multi) { m.commit(rk, 1, false) },
			want:  []string{pos(2, 7, 0), pos(3, 7, 0), pos(3, 8, 0)},
		},
		{
			name: "a channel the cursor names but the stream did not ask for is ignored",
			before: func(m *multi) {
				m.commit("alice", 2, true)
				m.commit(rk, 3, true)
			},
			// The cursor of a stream on feed alone (hash below room's),
			// with an offset no source of this stream has.
			after: "1" + "_" + strconv.FormatUint(uint64(fh), 36) + ".0_" + strconv.FormatUint(uint64(rh)+1, 36) + ".7",
			user:  "alice",
			live:  func(m *multi) { m.commit(rk, 1, false) },
			want:  []string{pos(2, 3, 0), pos(2, 4, 0)},
		},
		{
			name: "a stream without an inbox carries channels only",
			before: func(m *multi) {
				m.commit(rk, 3, true)
				m.commit("alice", 1, true)
			},
			after: pos(0, 1, 0),
			live:  func(m *multi) { m.commit("alice", 1, false); m.commit(rk, 1, false) },
			want: []string{
				strings.TrimPrefix(pos(0, 2, 0), "0"), strings.TrimPrefix(pos(0, 3, 0), "0"),
				strings.TrimPrefix(pos(0, 4, 0), "0"),
			},
		},
		{
			name: "a gap in a channel's live events is filled from its history",
			before: func(m *multi) {
				m.commit(rk, 2, true)
			},
			user: "alice",
			live: func(m *multi) { m.commit(rk, 2, true); m.commit(rk, 1, false) },
			want: []string{pos(0, 3, 0), pos(0, 4, 0), pos(0, 5, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				m := newMulti()
				m.base[rk], m.base[fk] = 0, 0
				if tt.before != nil {
					tt.before(m)
				}
				eng := resume.New(resume.Config{Source: m, Metrics: resume.NewMetrics(nil, "test", nil)})
				req := resume.Request{User: tt.user, Channels: []notify.Channel{room, feed}}
				if tt.after != "" {
					p, err := resume.ParsePosition(tt.after)
					if err != nil {
						t.Fatal(err)
					}
					req.After, req.Resume = p, true
				}
				ctx, cancel := context.WithCancel(t.Context())
				st, err := eng.Open(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				out := &idSink{}
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = st.Run(ctx, out)
				}()
				synctest.Wait()
				tt.live(m)
				synctest.Wait()
				cancel()
				<-done
				got := out.take()
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Errorf("frames\n got %q\nwant %q", got, tt.want)
				}
			})
		})
	}
}

// TestChannelClash checks that two channels one cursor cannot tell apart
// are refused together rather than resumed from each other's offsets.
func TestChannelClash(t *testing.T) {
	t.Parallel()
	seen := map[uint32]notify.Channel{}
	var a, b notify.Channel
	for i := 0; i < 1<<20 && a == ""; i++ {
		ch := notify.Channel(fmt.Sprintf("c/%d", i))
		h := resume.ChannelHash(ch)
		if other, ok := seen[h]; ok {
			a, b = other, ch
		}
		seen[h] = ch
	}
	if a == "" {
		t.Fatal("no two channel names of one hash among 2^20")
	}
	eng := resume.New(resume.Config{Source: newMulti()})
	_, err := eng.Open(t.Context(), resume.Request{User: "alice", Channels: []notify.Channel{a, b}})
	if !errors.Is(err, resume.ErrChannelClash) {
		t.Fatalf("Open(%q, %q) err = %v, want ErrChannelClash", a, b, err)
	}
}
