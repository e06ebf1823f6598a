package embedded_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// TestWriteErrorIsUnavailable makes the WAL fail under a group commit: the
// callers must get ErrUnavailable, never an acknowledgement, and nothing may
// be published.
func TestWriteErrorIsUnavailable(t *testing.T) {
	t.Parallel()
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})}
	var published atomic.Int64
	s, err := embedded.Open("/db", embedded.Options{
		FS:       errorfs.Wrap(vfs.NewMem(), toggle),
		OnCommit: func(es []notify.Entry) { published.Add(int64(len(es))) },
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close() //nolint:errcheck // a store whose disk failed may fail to close
	appendOK(t, s, to(note("before"), "uma"))
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready = %v", err)
	}

	toggle.On()
	for _, id := range []string{"during", "after"} {
		res, err := s.Append(t.Context(), []store.Delivery{to(note(id), "uma")})
		if !errors.Is(err, notify.ErrUnavailable) || res != nil {
			t.Errorf("Append %s with a failing disk = %v, %v; want ErrUnavailable", id, res, err)
		}
	}
	if err := s.Ready(t.Context()); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Ready after a failed commit = %v, want ErrUnavailable", err)
	}
	if n := published.Load(); n != 1 {
		t.Errorf("hook published %d entries, want only the one before the failure", n)
	}
}
