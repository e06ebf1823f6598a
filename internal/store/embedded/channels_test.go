package embedded_test

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

func publish(t *testing.T, s store.Store, id string, chs ...notify.Channel) []notify.Cursor {
	t.Helper()
	offs, err := s.Publish(t.Context(), note(id), chs)
	if err != nil {
		t.Fatalf("Publish(%s): %v", id, err)
	}
	return offs
}

func channelIDs(t *testing.T, s store.Store, ch notify.Channel, after notify.Cursor) []string {
	t.Helper()
	es, err := s.ChannelRead(t.Context(), ch, after, 0)
	if err != nil {
		t.Fatalf("ChannelRead(%s, %d): %v", ch, after, err)
	}
	ids := []string{}
	for _, e := range es {
		ids = append(ids, e.Notification.ID)
	}
	return ids
}

// TestChannelReopen: offsets, the history and its trimming survive a
// restart, and a retry after it still finds its event.
func TestChannelReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ch = notify.Channel("rooms/durable")
	opts := embedded.Options{ChannelHistory: 3}
	s := openT(t, dir, opts)
	var offs []notify.Cursor
	for _, id := range []string{"a", "b", "c", "d"} {
		offs = append(offs, publish(t, s, id, ch)[0])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, dir, opts)
	if got, err := s.ChannelLast(t.Context(), ch); err != nil || got != offs[3] {
		t.Errorf("ChannelLast after reopening = %d, %v; want %d", got, err, offs[3])
	}
	if got := channelIDs(t, s, ch, offs[0]); len(got) != 3 || got[0] != "b" {
		t.Errorf("history after reopening = %v, want [b c d]", got)
	}
	if again := publish(t, s, "c", ch)[0]; again != offs[2] {
		t.Errorf("retry after reopening = %d, want %d", again, offs[2])
	}
	e := publish(t, s, "e", ch)[0]
	if e != offs[3]+1 {
		t.Errorf("offset after reopening = %d, want %d", e, offs[3]+1)
	}
	if got := channelIDs(t, s, ch, offs[1]); len(got) != 3 || got[0] != "c" || got[2] != "e" {
		t.Errorf("history = %v, want [c d e]", got)
	}
	if _, err := s.ChannelRead(t.Context(), ch, offs[0], 0); !errors.Is(err, notify.ErrCursorExpired) {
		t.Errorf("ChannelRead after a trimmed one: %v, want ErrCursorExpired", err)
	}
}

// TestChannelSweep: the sweep deletes aged events, and a channel whose
// events all aged goes whole; its next history starts above the old
// offsets, and a listener of the old one gets ErrCursorExpired, not a
// silent gap.
func TestChannelSweep(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := openT(t, t.TempDir(), embedded.Options{Now: clk.Now, ChannelHistoryAge: time.Hour, SweepInterval: time.Hour})
	const gone, kept = notify.Channel("rooms/gone"), notify.Channel("rooms/kept")
	old := publish(t, s, "old", gone, kept)
	clk.Advance(45 * time.Minute)
	young := publish(t, s, "young", kept)[0]
	clk.Advance(30 * time.Minute)
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if got, err := s.ChannelLast(t.Context(), gone); err != nil || got != 0 {
		t.Errorf("ChannelLast of a swept channel = %d, %v; want 0", got, err)
	}
	if got := channelIDs(t, s, kept, old[1]); len(got) != 1 || got[0] != "young" {
		t.Errorf("kept channel after the sweep = %v, want [young]", got)
	}
	if _, err := s.ChannelRead(t.Context(), kept, 0, 0); !errors.Is(err, notify.ErrCursorExpired) {
		t.Errorf("ChannelRead of the swept part: %v, want ErrCursorExpired", err)
	}
	anew := publish(t, s, "anew", gone)[0]
	if anew <= old[0] || anew < store.ChannelEpoch(clk.Now()) {
		t.Errorf("new history starts at %d, want above %d and at least %d", anew, old[0], store.ChannelEpoch(clk.Now()))
	}
	if _, err := s.ChannelRead(t.Context(), gone, old[0]-1, 0); !errors.Is(err, notify.ErrCursorExpired) {
		t.Errorf("ChannelRead from before the old history: %v, want ErrCursorExpired", err)
	}
	if got := channelIDs(t, s, gone, 0); len(got) != 1 || got[0] != "anew" {
		t.Errorf("a listener that began on the empty channel reads %v, want [anew]", got)
	}
	if young <= old[1] {
		t.Errorf("offsets %d, %d do not increase", old[1], young)
	}
}
