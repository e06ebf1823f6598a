package resume

import (
	"errors"
	"hash/fnv"
	"strconv"

	"github.com/heraldhq/herald/internal/notify"
)

// ErrBadPosition is returned by ParsePosition for anything but a canonical
// stream cursor.
var ErrBadPosition = errors.New("malformed stream cursor")

// MaxPositionLen bounds a stream cursor's wire form. A stream of the inbox
// and 16 channels needs at most 20 + 16×(1+7+1+13) = 372 bytes; the bound
// leaves room above that and stays under what proxies and browsers carry in
// a Last-Event-ID header.
const MaxPositionLen = 1024

// maxChannelPositions bounds the channels one cursor names, whatever the
// configured limit of a stream's channels.
const maxChannelPositions = 64

// Position is where a client is in each source of its stream: the inbox
// cursor and each channel's offset. Its wire form is the SSE `id:` and the
// gRPC event cursor, opaque to clients:
//
//	123                  the inbox only: the inbox cursor, as it always was
//	123_5p0k2.1f4ms9k3   the inbox, then one `_hash.offset` per channel
//	_5p0k2.1f4ms9k3      channels only (a stream without an inbox)
//
// A channel is named by a 32-bit hash of its name, in base 36, so that the
// cursor stays short whatever the names; its offset is in base 36 too.
// Channels appear in ascending hash order, each once, so every position has
// exactly one spelling. A stream never holds two channels of one hash (see
// ChannelHash).
type Position struct {
	// Inbox is the inbox cursor; HasInbox is false for a cursor of a
	// stream without an inbox.
	Inbox    notify.Cursor
	HasInbox bool
	Channels []ChannelOffset
}

// ChannelOffset is a channel's offset within a Position.
type ChannelOffset struct {
	Hash   uint32
	Offset notify.Cursor
}

// ChannelHash is how a cursor names ch.
func ChannelHash(ch notify.Channel) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ch))
	return h.Sum32()
}

// Offset returns the offset the position holds for the channel of hash h.
func (p Position) Offset(h uint32) (notify.Cursor, bool) {
	for _, c := range p.Channels {
		if c.Hash == h {
			return c.Offset, true
		}
	}
	return 0, false
}

// InboxPosition is the position of an inbox-only stream at c.
func InboxPosition(c notify.Cursor) Position { return Position{Inbox: c, HasInbox: true} }

// ParsePosition parses a cursor's wire form, strictly: a plain inbox cursor,
// or the form with channels, in canonical spelling only.
func ParsePosition(s string) (Position, error) {
	if s == "" || len(s) > MaxPositionLen {
		return Position{}, ErrBadPosition
	}
	head, rest, multi := cut(s, '_')
	var p Position
	if head != "" {
		c, err := notify.ParseCursor(head)
		if err != nil {
			return Position{}, ErrBadPosition
		}
		p.Inbox, p.HasInbox = c, true
	} else if !multi {
		return Position{}, ErrBadPosition
	}
	if !multi {
		return p, nil
	}
	for {
		var part string
		part, rest, multi = cut(rest, '_')
		hs, os, ok := cut(part, '.')
		if !ok || len(p.Channels) == maxChannelPositions {
			return Position{}, ErrBadPosition
		}
		h, err := parseBase36(hs, 32)
		if err != nil {
			return Position{}, err
		}
		o, err := parseBase36(os, 64)
		if err != nil {
			return Position{}, err
		}
		if n := len(p.Channels); n > 0 && uint32(h) <= p.Channels[n-1].Hash {
			return Position{}, ErrBadPosition // out of order, or repeated
		}
		p.Channels = append(p.Channels, ChannelOffset{Hash: uint32(h), Offset: notify.Cursor(o)})
		if !multi {
			return p, nil
		}
	}
}

// AppendTo appends the wire form of p to b.
func (p Position) AppendTo(b []byte) []byte {
	if p.HasInbox {
		b = p.Inbox.AppendTo(b)
	}
	for _, c := range p.Channels {
		b = appendChannel(b, c.Hash, c.Offset)
	}
	return b
}

// String returns the wire form.
func (p Position) String() string { return string(p.AppendTo(nil)) }

func appendChannel(b []byte, hash uint32, offset notify.Cursor) []byte {
	b = append(b, '_')
	b = strconv.AppendUint(b, uint64(hash), 36)
	b = append(b, '.')
	return strconv.AppendUint(b, uint64(offset), 36)
}

// cut is strings.Cut on a byte.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// parseBase36 parses a canonical lower-case base-36 number of at most bits
// bits: no sign, no leading zeros.
func parseBase36(s string, bits int) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, ErrBadPosition
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return 0, ErrBadPosition
		}
	}
	v, err := strconv.ParseUint(s, 36, bits)
	if err != nil {
		return 0, ErrBadPosition
	}
	return v, nil
}
