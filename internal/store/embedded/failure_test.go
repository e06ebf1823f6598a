package embedded_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestStalledDiskBounded stalls the WAL under a group commit, as a disk that
// stops answering does: bounded, Append and Mark answer ErrUnavailable by
// the bound, in the caller's goroutine (store.Bounded runs the embedded
// store's writes inline), and the store works again once the disk does.
func TestStalledDiskBounded(t *testing.T) {
	t.Parallel()
	stall := make(chan struct{})
	var stalling atomic.Bool
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && stalling.Load() {
			<-stall
		}
		return nil
	})}
	raw, err := embedded.Open("/db", embedded.Options{FS: errorfs.Wrap(vfs.NewMem(), toggle)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer raw.Close() //nolint:errcheck // the disk came back; nothing to check
	released := false
	release := func() {
		if !released {
			released = true
			stalling.Store(false)
			close(stall)
		}
	}
	defer release()
	const bound = 100 * time.Millisecond
	s := store.Bounded(raw, bound, "disk")
	appendOK(t, s, to(note("before"), "uma"))

	toggle.On()
	stalling.Store(true)
	start := time.Now()
	_, err = s.Append(t.Context(), []store.Delivery{to(note("stalled"), "uma")})
	if !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, store.ErrTimeout) {
		t.Fatalf("Append on a stalled disk = %v, want ErrUnavailable from ErrTimeout", err)
	}
	if took := time.Since(start); took < bound {
		t.Errorf("Append answered after %v, before the bound of %v", took, bound)
	}
	// The next write waits behind that commit and is answered by the
	// bound too.
	if _, _, err := s.Mark(t.Context(), "uma", store.Mark{Action: store.MarkRead, UpTo: 100}); !errors.Is(err, store.ErrTimeout) {
		t.Fatalf("Mark on a stalled disk = %v, want ErrTimeout", err)
	}

	release()
	appendOK(t, s, to(note("after"), "uma"))
}
