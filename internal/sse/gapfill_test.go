package sse_test

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
)

// appendQuiet commits n entries for user without handing them to the hub,
// as in a cluster when the bus lost them.
func (m *memStore) appendQuiet(user notify.UserID, n int) []notify.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	es := m.entries[user]
	batch := make([]notify.Entry, n)
	for i := range batch {
		c := notify.Cursor(len(es) + 1)
		no := &notify.Notification{ID: fmt.Sprintf("%s-%d", user, c), Type: "test.created", Title: "t", CreateTime: createTime}
		batch[i] = notify.Entry{User: user, Cursor: c, Notification: no}
		es = append(es, batch[i])
	}
	m.entries[user] = es
	return batch
}

// TestGapFill: a live entry beyond the client's cursor + 1 makes the stream
// read the missing entries from the store and send them first; an entry the
// client already has is skipped. The cases of gap fill are the engine's
// (package resume); this one checks them end to end over SSE.
func TestGapFill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// Entries before a live-only stream are not the client's business:
	// the first live entry sets the stream's position without a fill.
	e.store.appendQuiet("alice", 5)
	_, fr := e.connect(tokenAlice, "", nil)

	first := e.store.append("alice", 1) // cursor 6
	f, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	wantEntry(t, f, first[0])

	lost := e.store.appendQuiet("alice", 2) // 7, 8: the bus lost them
	next := e.store.append("alice", 1)      // 9
	for _, en := range []notify.Entry{lost[0], lost[1], next[0]} {
		f, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		wantEntry(t, f, en)
	}
	if got := metric(t, e.sseReg, "herald_sse_replayed_entries_total"); got != 2 {
		t.Errorf("replayed = %v, want 2 (the filled entries)", got)
	}

	// An old entry arriving late is skipped.
	e.hub.Publish([]notify.Entry{lost[0]})
	last := e.store.append("alice", 1) // 10
	f, err = fr.next()
	if err != nil {
		t.Fatal(err)
	}
	wantEntry(t, f, last[0])
}
