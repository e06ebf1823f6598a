package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// wireVersion is the first byte of every message. A node that reads another
// version drops the message (and counts it) instead of guessing: a rolling
// upgrade that changes the encoding bumps it, and the streams of the few
// users affected catch up by gap fill.
const wireVersion = 1

// Entry kinds on the wire.
const (
	kindNotification = 0
	kindCounts       = 1
)

// Flags of a notification entry.
const (
	flagCreateTime = 1 << iota
	flagExpireTime
)

// errMalformed is wrapped by every decode failure.
var errMalformed = errors.New("bus: malformed message")

// encode appends the message for entries, which all belong to user: the
// version, the user once, and each entry with what SSE (Entry.Payload) and
// gRPC (the Event message) need. The audience and idempotency key stay
// behind: no stream shows them.
func encode(b []byte, user notify.UserID, entries []notify.Entry) []byte {
	b = append(b, wireVersion)
	b = appendString(b, string(user))
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for i := range entries {
		e := &entries[i]
		if e.Counts != nil {
			b = append(b, kindCounts)
			b = binary.AppendUvarint(b, uint64(max(e.Counts.Unread, 0)))
			b = binary.AppendUvarint(b, uint64(max(e.Counts.Unseen, 0)))
			continue
		}
		n := e.Notification
		b = append(b, kindNotification)
		b = binary.AppendUvarint(b, uint64(e.Cursor))
		b = appendString(b, string(e.Topic))
		b = appendString(b, n.ID)
		b = appendString(b, n.Type)
		b = appendString(b, n.Title)
		b = appendString(b, n.Body)
		b = appendString(b, string(n.Data))
		b = appendString(b, n.Category)
		b = append(b, byte(n.Priority))
		var flags byte
		if !n.CreateTime.IsZero() {
			flags |= flagCreateTime
		}
		if !n.ExpireTime.IsZero() {
			flags |= flagExpireTime
		}
		b = append(b, flags)
		if flags&flagCreateTime != 0 {
			b = binary.AppendVarint(b, n.CreateTime.UnixNano())
		}
		if flags&flagExpireTime != 0 {
			b = binary.AppendVarint(b, n.ExpireTime.UnixNano())
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decode parses a message into fresh entries. It never panics on any input:
// the channel is shared with whatever else can PUBLISH to the Redis.
func decode(msg []byte) ([]notify.Entry, error) {
	d := decoder{b: msg}
	if v := d.byte(); d.err == nil && v != wireVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", errMalformed, v, wireVersion)
	}
	user := notify.UserID(d.string())
	n := d.uvarint()
	// Every entry takes at least two bytes, which bounds the allocation
	// by the message's size rather than by a count it claims.
	if d.err == nil && n > uint64(len(d.b))/2 {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errMalformed, n, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	entries := make([]notify.Entry, n)
	for i := range entries {
		e := &entries[i]
		e.User = user
		switch d.byte() {
		case kindCounts:
			e.Counts = &notify.Counts{Unread: d.int(), Unseen: d.int()}
		case kindNotification:
			e.Cursor = notify.Cursor(d.uvarint())
			e.Topic = notify.Topic(d.string())
			nt := &notify.Notification{
				ID:    d.string(),
				Type:  d.string(),
				Title: d.string(),
				Body:  d.string(),
			}
			if data := d.string(); data != "" {
				nt.Data = []byte(data)
			}
			nt.Category = d.string()
			nt.Priority = notify.Priority(int8(d.byte()))
			flags := d.byte()
			if flags&flagCreateTime != 0 {
				nt.CreateTime = time.Unix(0, d.varint()).UTC()
			}
			if flags&flagExpireTime != 0 {
				nt.ExpireTime = time.Unix(0, d.varint()).UTC()
			}
			e.Notification = nt
		default:
			if d.err == nil {
				d.err = fmt.Errorf("%w: unknown entry kind", errMalformed)
			}
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(d.b))
	}
	return entries, nil
}

// decoder reads from b; the first failure sticks in err and every later
// read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errMalformed, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a count, which fits an int on every platform Herald builds for.
func (d *decoder) int() int {
	v := d.uvarint()
	if v > 1<<31-1 {
		d.fail("count")
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
