package notify_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
)

func TestParseTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"news", true},
		{"orders/eu:123", true},
		{"building-42.alerts_x", true},
		{"A", true},
		{"./-_:", true},
		{strings.Repeat("t", notify.MaxTopicLen), true},
		{"", false},
		{strings.Repeat("t", notify.MaxTopicLen+1), false},
		{"a b", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"ü", false},
		{"café", false},
		{"a*b", false},
		{"a#b", false},
		{"a?b", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		got, err := notify.ParseTopic(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseTopic(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, notify.ErrBadTopic) {
			t.Errorf("ParseTopic(%q) err = %v, want ErrBadTopic", tt.in, err)
		}
		if err == nil && string(got) != tt.in {
			t.Errorf("ParseTopic(%q) = %q", tt.in, got)
		}
	}
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"news", "orders/eu:123", "", "a b", "ü", strings.Repeat("x", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := notify.ParseTopic(s)
		if err != nil {
			if !errors.Is(err, notify.ErrBadTopic) || got != "" {
				t.Fatalf("ParseTopic(%q) = %q, %v", s, got, err)
			}
			return
		}
		if string(got) != s || len(s) == 0 || len(s) > notify.MaxTopicLen {
			t.Fatalf("ParseTopic(%q) = %q accepted", s, got)
		}
		for _, r := range s {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:", r) {
				t.Fatalf("ParseTopic(%q) accepted %q", s, r)
			}
		}
	})
}
