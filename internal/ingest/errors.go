package ingest

import (
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/notify"
)

// KeyConflict is a notification whose idempotency key came within the
// window with another notification: Field names its key, ID is the first
// notification's.
type KeyConflict struct {
	Field string
	ID    string
}

// ConflictError lists the notifications of a request whose idempotency key
// was reused for different content; none of them was stored. It wraps
// notify.ErrIdempotencyKeyReused. Unlike a validate.Error, which any API
// finds in a request by itself, only Service's idempotency check against
// what was stored finds a conflict, so the type is ingest's own.
type ConflictError struct {
	Conflicts []KeyConflict
}

// Error names the conflicting keys.
func (e *ConflictError) Error() string {
	var b strings.Builder
	b.WriteString(notify.ErrIdempotencyKeyReused.Error())
	for i, c := range e.Conflicts {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (first notification %s)", c.Field, c.ID)
	}
	return b.String()
}

// Unwrap returns notify.ErrIdempotencyKeyReused.
func (e *ConflictError) Unwrap() error { return notify.ErrIdempotencyKeyReused }
