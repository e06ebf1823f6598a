// Package validate is how every API of Herald reports what is wrong with a
// request: one FieldViolation per problem, all of a request's problems
// collected by Violations into one *Error. It depends on no API, so that
// ingest, rpc and kafka share it without importing each other; rpc
// turns an *Error into INVALID_ARGUMENT with a BadRequest detail.
package validate

import (
	"fmt"
	"strings"
)

// FieldViolation is one problem with one field of a request. Field is a path
// in the request's proto field names, e.g. "notification.audience.user_ids[3]"
// or, in a batch, "notifications[2].title".
type FieldViolation struct {
	Field       string
	Description string
}

// Error lists every problem found in a request, so that a sender can fix
// them all at once. Nothing of a request with an Error was stored.
type Error struct {
	Violations []FieldViolation
}

// Error lists the violations. The text is what Kafka's dead letters carry
// as their error detail, so it keeps its "invalid notification" prefix.
func (e *Error) Error() string {
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
// learns every problem at once; every API validates with it. The zero value
// is empty and ready to use.
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

// Err is an *Error listing the violations, or nil. Past maxViolations, one
// more entry says how many were left out.
func (v *Violations) Err() error {
	if len(v.list) == 0 {
		return nil
	}
	list := v.list
	if v.omitted > 0 {
		last := list[len(list)-1]
		list = append(list, FieldViolation{Field: last.Field, Description: fmt.Sprintf("and %d more violations not listed", v.omitted)})
	}
	return &Error{Violations: list}
}
