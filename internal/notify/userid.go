package notify

import (
	"errors"
	"unicode"
	"unicode/utf8"
)

// ErrBadUserID is returned by ParseUserID for an empty, oversized or
// unprintable user ID.
var ErrBadUserID = errors.New("malformed user ID")

// ParseUserID checks that s is a usable user ID: not empty, at most
// MaxUserIDLen bytes of valid UTF-8, and free of control characters and line
// or paragraph separators. The same rule applies wherever a user ID enters
// (API requests, token subjects), so that IDs are safe in store keys, log
// lines and headers.
func ParseUserID(s string) (UserID, error) {
	if s == "" || len(s) > MaxUserIDLen || !utf8.ValidString(s) {
		return "", ErrBadUserID
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "", ErrBadUserID
		}
	}
	return UserID(s), nil
}
