package rpc_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// appendQuiet stores n entries for user without publishing them, as in a
// cluster when the bus lost them.
func (l *streamLog) appendQuiet(user notify.UserID, n int) []notify.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]notify.Entry, n)
	for i := range out {
		c := notify.Cursor(len(l.entries[user]) + 1)
		out[i] = notify.Entry{User: user, Cursor: c, Notification: &notify.Notification{
			ID: fmt.Sprintf("%s-%d", user, c), Title: fmt.Sprintf("t%d", c), CreateTime: time.Unix(1, 0),
		}}
		l.entries[user] = append(l.entries[user], out[i])
	}
	return out
}

// TestStreamGapFill checks gap fill end to end over gRPC; its cases are the
// engine's (package resume).
func TestStreamGapFill(t *testing.T) {
	t.Parallel()
	c, log, _ := startStreamServer(t, time.Time{})
	log.appendQuiet("alice", 5) // before a live-only stream: never sent
	st := openStream(t, c, "alice", "")

	recv := func(want notify.Cursor) {
		t.Helper()
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("recv cursor %d: %v", want, err)
		}
		if got := m.GetEvent().GetCursor(); got != want.String() {
			t.Fatalf("got %v, want cursor %d", m, want)
		}
	}
	log.append("alice", 1) // 6
	recv(6)
	log.appendQuiet("alice", 9) // 7..15, more than a ReplayBatch (7)
	log.append("alice", 1)      // 16
	for want := notify.Cursor(7); want <= 16; want++ {
		recv(want)
	}
	// An old entry arriving late is skipped. (The same cursor under
	// another notification would be a reset: see resume's sentRing.)
	log.hub.Publish([]notify.Entry{{User: "alice", Cursor: 9, Notification: &notify.Notification{ID: "alice-9"}}})
	log.append("alice", 1) // 17
	recv(17)
}
