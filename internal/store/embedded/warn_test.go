package embedded

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/logbuf"
)

func TestWarnLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWarnLimiter(time.Minute, func() time.Time { return now })
	var buf logbuf.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	steps := []struct {
		advance time.Duration
		msg     string
	}{
		{0, "a"}, {time.Second, "a"}, {time.Second, "b"}, {10 * time.Second, "a"},
		{time.Minute, "a"}, {time.Second, "a"}, {2 * time.Minute, "a"},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		w.log(l, slog.LevelWarn, s.msg, "k", "v")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"msg=a k=v", "msg=b k=v", "msg=a k=v repeated=2", "msg=a k=v repeated=1"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		if !strings.HasSuffix(line, want[i]) {
			t.Errorf("line %d = %q, want it to end in %q", i, line, want[i])
		}
	}
}

// TestPebbleErrorsByShape checks that Pebble's errors that differ only in
// file numbers share one interval: a full disk makes Pebble report a failed
// flush every few milliseconds, each with the next file number.
func TestPebbleErrorsByShape(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf logbuf.Buffer
	l := pebbleLogger{log: slog.New(slog.NewTextHandler(&buf, nil)), limit: newWarnLimiter(time.Minute, func() time.Time { return now })}
	for i := range 500 {
		now = now.Add(2 * time.Millisecond)
		l.Errorf("background error: write %06d.sst: no space left on device", 100+i)
	}
	l.Errorf("background error: %s", "another fault")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "000100.sst") || !strings.Contains(lines[1], "another fault") {
		t.Fatalf("got %d lines, want the first flush error and the other fault:\n%s", len(lines), buf.String())
	}
	if got, want := withoutNumbers("write 000123.sst: errno 28"), "write #.sst: errno #"; got != want {
		t.Errorf("withoutNumbers = %q, want %q", got, want)
	}
}
