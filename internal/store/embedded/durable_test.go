package embedded_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// TestEntriesHiddenUntilDurable holds a group's WAL sync and checks that no
// reader sees its entry meanwhile: Pebble makes a batch visible before its
// sync ends, and a stream replaying it then could send what a crash would
// take back. Once the sync ends, the Append returns and readers see it.
func TestEntriesHiddenUntilDurable(t *testing.T) {
	t.Parallel()
	var gate atomic.Pointer[chan struct{}] // while set, WAL syncs wait for it
	blocked := make(chan struct{}, 1)
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if g := gate.Load(); g != nil && strings.HasSuffix(op.Path, ".log") {
				select {
				case blocked <- struct{}{}:
				default:
				}
				<-*g
			}
		}
		return nil
	}))
	s := openT(t, "/db", embedded.Options{FS: fs})
	appendOK(t, s, to(note("first"), "pat"))

	g := make(chan struct{})
	gate.Store(&g)
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(t.Context(), []store.Delivery{to(note("second"), "pat")})
		done <- err
	}()
	<-blocked // the second entry is applied; its WAL sync waits

	check := func(when string, want []string) {
		t.Helper()
		if got := readIDs(t, s, "pat", 0); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: Read = %v, want %v", when, got, want)
		}
		last, err := s.Last(t.Context(), "pat")
		if err != nil || int(last) != len(want) {
			t.Errorf("%s: Last = %d, %v; want %d", when, last, err, len(want))
		}
		page, err := s.List(t.Context(), "pat", store.ListQuery{Limit: 10})
		if err != nil || len(page.Entries) != len(want) || int(page.Last) != len(want) {
			t.Errorf("%s: List = %d entries, last %d, %v; want %d", when, len(page.Entries), page.Last, err, len(want))
		}
		counts, err := s.Counts(t.Context(), "pat")
		if err != nil || counts.Unread != len(want) {
			t.Errorf("%s: Counts = %+v, %v; want %d unread", when, counts, err, len(want))
		}
	}
	check("during the sync", []string{"first"})
	select {
	case err := <-done:
		t.Fatalf("Append returned %v before its WAL sync ended", err)
	default:
	}

	gate.Store(nil)
	close(g)
	if err := <-done; err != nil {
		t.Fatalf("Append: %v", err)
	}
	check("after the sync", []string{"first", "second"})
}
