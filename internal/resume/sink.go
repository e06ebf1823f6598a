package resume

import (
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Sink is where a stream's frames go. The engine calls it from the stream's
// goroutine only, a batch at a time: Begin, any number of Entry, Control and
// Heartbeat, then Flush. A sink may write as it goes or at Flush; it keeps
// the first error and returns it from Flush, which ends the stream.
type Sink interface {
	// Begin starts a batch at now; a sink arms its write deadline here.
	Begin(now time.Time)
	// Entry adds an entry, replayed or live, and id, the stream's cursor
	// after it (the wire form of a Position; empty for a read-state event,
	// which moves no cursor). Both are valid until the call returns.
	Entry(e *notify.Entry, id []byte)
	// Control adds a control event.
	Control(c Control)
	// Heartbeat adds a keep-alive to an idle stream.
	Heartbeat()
	// Flush sends the batch to the client.
	Flush() error
}

// ControlKind says what a control event tells the client.
type ControlKind uint8

const (
	// Open is the first frame of every stream: it is live, and whatever
	// commits from now on reaches it.
	Open ControlKind = iota + 1
	// Reset says the client's cursor is older than the retained history
	// of one source (or ahead of it): the client refetches that source
	// (the inbox, or Control.Channel's history), and the stream goes on
	// live from Control.Cursor, the source's newest position.
	Reset
	// TokenExpired is the last frame of a stream whose token expired.
	TokenExpired
	// Shutdown is the last frame of a stream ended by the server's
	// shutdown: the client resumes elsewhere or later.
	Shutdown
)

// Control is a control event.
type Control struct {
	Kind ControlKind
	// Cursor is the source's newest position, for a Reset.
	Cursor notify.Cursor
	// Channel is the channel a Reset is about; empty for the inbox.
	Channel notify.Channel
	// ID is the stream's cursor after a Reset, valid until the call
	// returns.
	ID []byte
}
