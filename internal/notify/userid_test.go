package notify_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/notify"
)

func TestParseUserID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"alice", true},
		{"user:42@example.com", true},
		{"Zoë", true},
		{strings.Repeat("a", notify.MaxUserIDLen), true},
		{"", false},
		{strings.Repeat("a", notify.MaxUserIDLen+1), false},
		{"a\nb", false},
		{"a\x00b", false},
		{"a\u0085b", false},
		{"a\u2028b", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		got, err := notify.ParseUserID(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseUserID(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, notify.ErrBadUserID) {
			t.Errorf("ParseUserID(%q) err = %v, want ErrBadUserID", tt.in, err)
		}
		if err == nil && string(got) != tt.in {
			t.Errorf("ParseUserID(%q) = %q", tt.in, got)
		}
	}
}

// Whatever a request or a token names as a user, ParseUserID either
// refuses it with ErrBadUserID or returns it unchanged, and what it accepts
// is safe in store keys, log lines and headers.
func FuzzParseUserID(f *testing.F) {
	for _, s := range []string{"alice", "user:42@example.com", "Zoë", "", "a\nb", "a\x00b", "a\u2028b", "\xff", strings.Repeat("a", notify.MaxUserIDLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := notify.ParseUserID(s)
		if err != nil {
			if !errors.Is(err, notify.ErrBadUserID) || got != "" {
				t.Fatalf("ParseUserID(%q) = %q, %v", s, got, err)
			}
			return
		}
		if string(got) != s || s == "" || len(s) > notify.MaxUserIDLen || !utf8.ValidString(s) {
			t.Fatalf("ParseUserID(%q) = %q accepted", s, got)
		}
		for _, r := range s {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("ParseUserID(%q) accepted %U", s, r)
			}
		}
	})
}
