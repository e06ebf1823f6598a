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
// notify.ErrIdempotencyKeyReused.
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

// FieldViolation is one problem with one field of a request. Field is a path
// in the request's proto field names, e.g. "notification.audience.user_ids[3]"
// or, in a batch, "notifications[2].title".
type FieldViolation struct {
	Field       string
	Description string
}

// ValidationError lists every problem found in a request, so that a sender
// can fix them all at once. Nothing of a request with a ValidationError was
// stored.
type ValidationError struct {
	Violations []FieldViolation
}

// Error lists the violations.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid notification: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Description)
	}
	return b.String()
}

// maxViolations bounds the list, which travels back in gRPC trailers that
// many clients cap at 8 KiB.
const maxViolations = 20

// Violations collects the FieldViolations of one request, so that a caller
// learns every problem at once; every API validates with it.
type Violations struct {
	list    []FieldViolation
	omitted int
}

// Add records a violation of field.
func (v *Violations) Add(field, format string, args ...any) {
	if len(v.list) >= maxViolations {
		v.omitted++
		return
	}
	v.list = append(v.list, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Any reports whether a violation was recorded.
func (v *Violations) Any() bool { return len(v.list) > 0 }

// Err is a *ValidationError listing the violations, or nil.
func (v *Violations) Err() error {
	if len(v.list) == 0 {
		return nil
	}
	list := v.list
	if v.omitted > 0 {
		last := list[len(list)-1]
		list = append(list, FieldViolation{Field: last.Field, Description: fmt.Sprintf("and %d more violations not listed", v.omitted)})
	}
	return &ValidationError{Violations: list}
}
