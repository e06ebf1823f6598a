package notify

import (
	"errors"
	"strconv"
)

// Cursor is a position in one user's stream: the sequence number of an inbox
// entry. Cursors of a user increase strictly in the order entries become
// durable; zero is before the first entry. On the wire it is an opaque
// decimal string (the SSE `id:`).
type Cursor uint64

// ErrBadCursor is returned by ParseCursor for anything but a canonical
// decimal number.
var ErrBadCursor = errors.New("malformed cursor")

// maxCursorLen is len("18446744073709551615").
const maxCursorLen = 20

// ParseCursor parses the wire form of a cursor. Only the canonical form is
// accepted (no sign, no leading zeros, no spaces), so that every cursor has
// exactly one spelling.
func ParseCursor(s string) (Cursor, error) {
	if s == "" || len(s) > maxCursorLen || (len(s) > 1 && s[0] == '0') {
		return 0, ErrBadCursor
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadCursor
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, ErrBadCursor
	}
	return Cursor(v), nil
}

// String returns the wire form.
func (c Cursor) String() string { return strconv.FormatUint(uint64(c), 10) }

// AppendTo appends the wire form to b without allocating.
func (c Cursor) AppendTo(b []byte) []byte { return strconv.AppendUint(b, uint64(c), 10) }
