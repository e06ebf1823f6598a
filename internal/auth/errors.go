package auth

import (
	"errors"
	"fmt"
)

// A request Authenticator refuses gets an error wrapping one of these: rpc
// answers ErrUnauthenticated with UNAUTHENTICATED and ErrPermissionDenied
// with PERMISSION_DENIED, the error's own text as the message.
var (
	// ErrUnauthenticated: the request presented no credential, or one that
	// is not valid, so who sent it is not known.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the credential is valid but does not reach the
	// method.
	ErrPermissionDenied = errors.New("permission denied")
)

// refusal is a refused request. Its text is written for the caller: it
// says how to fix the request, and never carries the credential.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }

// Unwrap returns ErrUnauthenticated or ErrPermissionDenied.
func (r *refusal) Unwrap() error { return r.kind }

func unauthenticated(msg string) error { return &refusal{kind: ErrUnauthenticated, msg: msg} }

func unauthenticatedf(format string, args ...any) error {
	return unauthenticated(fmt.Sprintf(format, args...))
}

func permissionDenied(msg string) error { return &refusal{kind: ErrPermissionDenied, msg: msg} }

func permissionDeniedf(format string, args ...any) error {
	return permissionDenied(fmt.Sprintf(format, args...))
}
