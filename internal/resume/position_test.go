package resume_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

func TestParsePosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want resume.Position
		ok   bool
	}{
		{"0", resume.InboxPosition(0), true},
		{"123", resume.InboxPosition(123), true},
		{"18446744073709551615", resume.InboxPosition(1<<64 - 1), true},
		{"12_a.1", resume.Position{Inbox: 12, HasInbox: true, Channels: []resume.ChannelOffset{{Hash: 10, Offset: 1}}}, true},
		{"_a.0_b.z", resume.Position{Channels: []resume.ChannelOffset{{Hash: 10, Offset: 0}, {Hash: 11, Offset: 35}}}, true},
		{"0_1z141z3.3w5e11264sgsf", resume.Position{Inbox: 0, HasInbox: true, Channels: []resume.ChannelOffset{{Hash: 1<<32 - 1, Offset: 1<<64 - 1}}}, true},
		{"", resume.Position{}, false},
		{"_", resume.Position{}, false},
		{"1_", resume.Position{}, false},
		{"01", resume.Position{}, false},
		{"-1", resume.Position{}, false},
		{"1_a", resume.Position{}, false},
		{"1_a.", resume.Position{}, false},
		{"1_.1", resume.Position{}, false},
		{"1_A.1", resume.Position{}, false},
		{"1_a.01", resume.Position{}, false},
		{"1_0a.1", resume.Position{}, false},
		{"1_b.1_a.1", resume.Position{}, false},         // out of order
		{"1_a.1_a.2", resume.Position{}, false},         // repeated
		{"1_1z141z4.1", resume.Position{}, false},       // hash beyond 32 bits
		{"1_a.3w5e11264sgsg", resume.Position{}, false}, // offset beyond 64 bits
		{"1_a.1.2", resume.Position{}, false},
		{"1 ", resume.Position{}, false},
		{"1__a.1", resume.Position{}, false},
		{"1_a.1\n", resume.Position{}, false},
		{strings.Repeat("1", resume.MaxPositionLen+1), resume.Position{}, false},
	}
	for _, tt := range tests {
		got, err := resume.ParsePosition(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParsePosition(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, resume.ErrBadPosition) {
				t.Errorf("ParsePosition(%q) err = %v, want ErrBadPosition", tt.in, err)
			}
			continue
		}
		if got.String() != tt.in || got.Inbox != tt.want.Inbox || got.HasInbox != tt.want.HasInbox || len(got.Channels) != len(tt.want.Channels) {
			t.Errorf("ParsePosition(%q) = %+v (%q), want %+v", tt.in, got, got.String(), tt.want)
			continue
		}
		for i := range got.Channels {
			if got.Channels[i] != tt.want.Channels[i] {
				t.Errorf("ParsePosition(%q).Channels[%d] = %+v, want %+v", tt.in, i, got.Channels[i], tt.want.Channels[i])
			}
		}
	}
}

// TestPositionLength checks the bound the README gives: the inbox and 16
// channels at the largest offsets stay well under 512 bytes.
func TestPositionLength(t *testing.T) {
	t.Parallel()
	p := resume.InboxPosition(1<<64 - 1)
	for i := range 16 {
		p.Channels = append(p.Channels, resume.ChannelOffset{Hash: 1<<32 - 16 + uint32(i), Offset: 1<<64 - 1})
	}
	s := p.String()
	if len(s) > 372 {
		t.Fatalf("cursor of the inbox and 16 channels is %d bytes: %s", len(s), s)
	}
	if _, err := resume.ParsePosition(s); err != nil {
		t.Fatalf("ParsePosition(%q): %v", s, err)
	}
}

func TestChannelHash(t *testing.T) {
	t.Parallel()
	// The hash is part of the wire form: a cursor from before an upgrade
	// must still name the same channel.
	for ch, want := range map[notify.Channel]uint32{"": 0x811c9dc5, "rooms/developers": 0x3a35feb7} {
		if got := resume.ChannelHash(ch); got != want {
			t.Errorf("ChannelHash(%q) = %#x, want %#x", ch, got, want)
		}
	}
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0", "123", "12_a.1", "_a.0_b.z", "1_a.1_a.2", "01", "_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := resume.ParsePosition(s)
		if err != nil {
			return
		}
		// One spelling per position: what parses prints back as itself.
		if got := p.String(); got != s {
			t.Fatalf("ParsePosition(%q).String() = %q", s, got)
		}
		if len(s) > resume.MaxPositionLen {
			t.Fatalf("ParsePosition accepted %d bytes", len(s))
		}
	})
}
