package notify_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
)

func TestParseCursor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    notify.Cursor
		wantErr bool
	}{
		{"0", 0, false},
		{"1", 1, false},
		{"42", 42, false},
		{"18446744073709551615", 18446744073709551615, false},
		{"18446744073709551616", 0, true},
		{"", 0, true},
		{"01", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{" 1", 0, true},
		{"1 ", 0, true},
		{"1e3", 0, true},
		{"0x10", 0, true},
		{"١", 0, true},
		{"123456789012345678901", 0, true},
	}
	for _, tt := range tests {
		got, err := notify.ParseCursor(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCursor(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, notify.ErrBadCursor) {
			t.Errorf("ParseCursor(%q) error = %v, want ErrBadCursor", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseCursor(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0", "1", "42", "18446744073709551615", "01", "-1", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := notify.ParseCursor(s)
		if err != nil {
			return
		}
		// Canonical: accepted input round-trips to itself.
		if got := c.String(); got != s {
			t.Fatalf("ParseCursor(%q) = %d, String() = %q", s, c, got)
		}
		if got := string(c.AppendTo(nil)); got != s {
			t.Fatalf("AppendTo = %q, want %q", got, s)
		}
	})
}
