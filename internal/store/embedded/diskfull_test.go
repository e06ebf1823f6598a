package embedded_test

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/logbuf"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// allocated is the disk space the files under dir occupy (their blocks,
// which count preallocated WAL space that their sizes do not).
func allocated(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDiskFootprint bounds the disk space of a fresh store holding a few
// thousand entries: Pebble preallocates each WAL file to its memtable size,
// so a large memtable costs that much disk before any data is written, and
// a full disk must give back that much before the store can reopen.
func TestDiskFootprint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	empty := allocated(t, dir)
	const entries = 5000
	for i := range entries / 100 {
		ds := make([]store.Delivery, 100)
		for j := range ds {
			n := note(fmt.Sprintf("fp-%d-%d", i, j))
			n.Body = strings.Repeat("b", 200)
			ds[j] = to(n, notify.UserID(fmt.Sprint("user-", j%50)))
		}
		appendOK(t, s, ds...)
	}
	full := allocated(t, dir)
	t.Logf("footprint: empty store %.1f MB, with %d entries %.1f MB", float64(empty)/1e6, entries, float64(full)/1e6)
	// At most four preallocated WAL files and a little data: never the
	// hundreds of MB a large memtable took.
	if limit := int64(4*embedded.DefaultMemTableSize*11/10 + 4<<20); full > limit {
		t.Errorf("store with %d entries occupies %d bytes, want at most %d", entries, full, limit)
	}
}

// TestDiskFullWarningsAreRateLimited keeps the disk full across many
// reopen attempts: the store logs a few warnings that count the repeats,
// not one per attempt.
func TestDiskFullWarningsAreRateLimited(t *testing.T) {
	t.Parallel()
	disk := newDiskFault(false)
	var logs logbuf.Buffer
	s, err := embedded.Open("/db", embedded.Options{
		FS:     disk.fs,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = s.Close() }()
	appendOK(t, s, to(note("before"), "uma"))
	disk.toggle.On()
	// Appends and probes fail for 3 s: with the backoff that is about ten
	// reopen attempts, each of which Pebble and the store report.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		_, _ = s.Append(t.Context(), []store.Delivery{to(note(fmt.Sprint("x", i)), "uma")})
		_ = s.Ready(t.Context())
		time.Sleep(10 * time.Millisecond) // a caller retrying
	}
	out := logs.String()
	lines := strings.Count(out, "\n")
	t.Logf("%d warning lines:\n%s", lines, out)
	// One line per message: the failed commit, the close of the broken
	// database, the failed reopen; Pebble's own at most once each.
	if lines > 5 {
		t.Errorf("%d warning lines in 3 s of a full disk, want at most 5", lines)
	}
	if strings.Contains(out, "stack trace") {
		t.Errorf("warnings carry stack traces:\n%s", out)
	}
}
