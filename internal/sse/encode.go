package sse

import (
	"bufio"
	"bytes"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Encoder writes Server-Sent Events frames to a buffered writer. It copies
// bytes only: an entry's payload is JSON encoded once per notification and
// shared by every connection, so encoding an event allocates nothing.
//
// No field ever carries a raw CR or LF: event names have them replaced by
// '_', and
// data is split into one `data:` line per line (which the client joins back
// with LF), so no input can start a second field or event.
type Encoder struct {
	w       *bufio.Writer
	scratch [24]byte // a cursor or a retry in decimal, without allocating
}

// NewEncoder returns an encoder writing to w. The caller flushes w.
func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// Retry writes `retry: <ms>` as a frame of its own, telling the client how
// long to wait before reconnecting.
func (e *Encoder) Retry(d time.Duration) {
	e.w.WriteString("retry: ")
	e.w.Write(strconv.AppendInt(e.scratch[:0], d.Milliseconds(), 10))
	e.w.WriteString("\n\n")
}

// Comment writes `: text`, which clients ignore; it keeps proxies and mobile
// networks from closing an idle stream. CR and LF in text are replaced.
//
// Like every method, it leaves errors to the bufio.Writer, which keeps the
// first one and returns it from Flush.
func (e *Encoder) Comment(text string) {
	e.w.WriteString(": ")
	e.writeLine(text)
	e.w.WriteString("\n\n")
}

// Entry writes an inbox entry or a channel's event: id, the stream's
// cursor after it, as the id, the notification type as the event name and
// the shared JSON payload as data. A read-state entry (Counts set) becomes a
// `read` event with the counts and no id, so that it does not move the
// client's resume point.
func (e *Encoder) Entry(en notify.Entry, id []byte) {
	if en.Counts != nil {
		e.read(en.Counts)
		return
	}
	e.Event(id, en.Notification.EventType(), en.Payload())
}

// Message writes an entry as Entry does, but as the default event, with no
// `event:` line, so that a client with one handler for everything
// (EventSource.onmessage) sees every type; the payload's "type" still
// names it. A read-state entry stays a named `read` event, as the other
// control events stay named.
func (e *Encoder) Message(en notify.Entry, id []byte) {
	if en.Counts != nil {
		e.read(en.Counts)
		return
	}
	e.Event(id, "", en.Payload())
}

// read writes the `read` event of c.
func (e *Encoder) read(c *notify.Counts) {
	e.Event(nil, notify.EventRead, c.AppendJSON(e.scratch[:0]))
}

// Event writes one event. With an empty id no `id:` is written and the
// client keeps the last one it had; an empty name writes no `event:`
// (clients then dispatch a "message"). An id is a cursor's wire form, which
// holds no line break.
func (e *Encoder) Event(id []byte, name string, data []byte) {
	if len(id) > 0 {
		e.w.WriteString("id: ")
		e.w.Write(id)
		e.w.WriteByte('\n')
	}
	if name != "" {
		e.w.WriteString("event: ")
		e.writeLine(name)
		e.w.WriteByte('\n')
	}
	e.writeData(data)
	e.w.WriteByte('\n')
}

// writeLine writes s with every CR and LF replaced by '_'.
func (e *Encoder) writeLine(s string) {
	for {
		i := indexNewline(s)
		if i < 0 {
			e.w.WriteString(s)
			return
		}
		e.w.WriteString(s[:i])
		e.w.WriteByte('_')
		s = s[i+1:]
	}
}

// writeData writes data as `data:` lines, splitting at CRLF, CR or LF the way
// the client's parser does, so the client reads back data with its line
// breaks normalised to LF. Payloads are one-line JSON, so this is one line.
func (e *Encoder) writeData(data []byte) {
	for {
		e.w.WriteString("data: ")
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			e.w.Write(data)
			e.w.WriteByte('\n')
			return
		}
		e.w.Write(data[:i])
		e.w.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

func indexNewline(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return i
		}
	}
	return -1
}
