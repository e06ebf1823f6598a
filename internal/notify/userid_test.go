package notify_test

import (
	"errors"
	"strings"
	"testing"

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
