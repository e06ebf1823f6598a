package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// diskFault is a file system whose writes fail while it is on, as a full
// or failing disk does.
type diskFault struct {
	toggle *errorfs.Toggle
	fs     vfs.FS
}

// newDiskFault fails every write, sync, create and rename (ENOSPC) when
// syncOnly is false; only fsyncs (EIO) when it is true, so that the WAL
// holds records whose commit failed.
func newDiskFault(syncOnly bool) *diskFault {
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch {
		case syncOnly && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo):
			return &os.PathError{Op: "fsync", Path: op.Path, Err: syscall.EIO}
		case !syncOnly && op.Kind.ReadOrWrite() == errorfs.OpIsWrite:
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return nil
	})}
	return &diskFault{toggle: toggle, fs: errorfs.Wrap(vfs.NewMem(), toggle)}
}

// waitReady polls Ready until it reports want (nil or ErrUnavailable).
func waitReady(t *testing.T, s *embedded.Store, unavailable bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := s.Ready(t.Context())
		if unavailable == errors.Is(err, notify.ErrUnavailable) && (unavailable || err == nil) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready = %v after %v; want unavailable=%v", err, within, unavailable)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// TestDiskFaultRecovers appends from several goroutines while the disk
// fails and comes back: every Append must either be acknowledged or fail
// with ErrUnavailable; the store must report itself unavailable while the
// disk fails and recover by itself once it works again; afterwards every
// acknowledged notification is in its inbox exactly once, and one that
// failed is there at most once, before and after a retry under its
// idempotency key.
func TestDiskFaultRecovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		syncOnly bool
	}{{"ENOSPC on writes", false}, {"EIO on fsync", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testDiskFault(t, tc.syncOnly)
		})
	}
}

func testDiskFault(t *testing.T, syncOnly bool) {
	disk := newDiskFault(syncOnly)
	var published atomic.Int64
	opts := embedded.Options{
		FS:             disk.fs,
		RetentionCount: 1 << 20,
		OnCommit:       func(es []notify.Entry) { published.Add(int64(len(es))) },
	}
	s, err := embedded.Open("/db", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = s.Close() }()

	users := []notify.UserID{"ada", "bob", "cy"}
	type outcome struct {
		user  notify.UserID
		acked bool
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]outcome{}
		failed   atomic.Int64
		acked    atomic.Int64
	)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				id := fmt.Sprintf("g%d-%d", g, i)
				user := users[(g+i)%len(users)]
				n := note(id)
				n.IdempotencyKey = "svc/" + id
				res, err := s.Append(ctx, []store.Delivery{to(n, user)})
				switch {
				case err == nil && len(res) == 1 && res[0].ID == id:
					acked.Add(1)
				case errors.Is(err, notify.ErrUnavailable):
					failed.Add(1)
				case ctx.Err() != nil:
					return
				default:
					t.Errorf("Append %s = %+v, %v; want an ack or ErrUnavailable", id, res, err)
					return
				}
				mu.Lock()
				outcomes[id] = outcome{user: user, acked: err == nil}
				mu.Unlock()
			}
		}()
	}
	// Reads and subscription writes go on meanwhile: they hold the
	// database, which the reopen must wait for; each either works or says
	// ErrUnavailable.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			u := users[i%len(users)]
			_, err1 := s.List(ctx, u, store.ListQuery{Limit: 5})
			_, err2 := s.Counts(ctx, u)
			_, err3 := s.Subscribe(ctx, []notify.Topic{notify.Topic(fmt.Sprint("t", i%7))}, []notify.UserID{u})
			for _, err := range []error{err1, err2, err3} {
				if err != nil && !errors.Is(err, notify.ErrUnavailable) && ctx.Err() == nil {
					t.Errorf("a read or subscription during the fault = %v; want success or ErrUnavailable", err)
					return
				}
			}
		}
	}()
	waitCount := func(c *atomic.Int64, min int64, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for c.Load() < min {
			if time.Now().After(deadline) {
				t.Fatalf("only %d %s appends within 10s", c.Load(), what)
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	}

	waitCount(&acked, 50, "acknowledged")
	disk.toggle.On()
	waitCount(&failed, 20, "failed")
	waitReady(t, s, true, 5*time.Second)
	before := acked.Load()
	disk.toggle.Off()
	waitReady(t, s, false, 10*time.Second)
	waitCount(&acked, before+50, "acknowledged after recovery")
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("acknowledged %d, failed %d", acked.Load(), failed.Load())

	check := func(s *embedded.Store, stage string) {
		t.Helper()
		seen := map[string]int{}
		for _, u := range users {
			es, err := s.Read(t.Context(), u, 0, 1<<20)
			if err != nil {
				t.Fatalf("%s: Read %s: %v", stage, u, err)
			}
			for i, e := range es {
				if i > 0 && e.Cursor <= es[i-1].Cursor {
					t.Fatalf("%s: cursors of %s not increasing: %d after %d", stage, u, e.Cursor, es[i-1].Cursor)
				}
				id := e.Notification.ID
				seen[id]++
				if o, ok := outcomes[id]; !ok || o.user != u {
					t.Errorf("%s: %s in the inbox of %s, sent to %+v", stage, id, u, o)
				}
			}
		}
		landed := 0
		for id, o := range outcomes {
			if !o.acked && seen[id] == 1 {
				landed++ // its group reached the WAL before the fault
			}
			switch n := seen[id]; {
			case o.acked && n != 1:
				t.Errorf("%s: acknowledged %s stored %d times", stage, id, n)
			case n > 1:
				t.Errorf("%s: failed %s stored %d times", stage, id, n)
			}
		}
		t.Logf("%s: %d failed appends are stored (once)", stage, landed)
	}
	check(s, "after recovery")

	// A retry of every failed append under its idempotency key lands it
	// exactly once, whether or not the failed group reached the WAL.
	for id, o := range outcomes {
		if o.acked {
			continue
		}
		n := note(id)
		n.IdempotencyKey = "svc/" + id
		if _, err := s.Append(t.Context(), []store.Delivery{to(n, o.user)}); err != nil {
			t.Fatalf("retry of %s: %v", id, err)
		}
		outcomes[id] = outcome{user: o.user, acked: true}
	}
	check(s, "after retries")

	// And all of it is durable.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = embedded.Open("/db", opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	check(s, "after a restart")
}

// TestReadyProbesTheDisk: with no traffic at all, Ready notices a disk
// that stopped taking writes (within its probe interval), and recovers.
func TestReadyProbesTheDisk(t *testing.T) {
	t.Parallel()
	disk := newDiskFault(false)
	s, err := embedded.Open("/db", embedded.Options{FS: disk.fs})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = s.Close() }()
	appendOK(t, s, to(note("before"), "uma"))
	waitReady(t, s, false, time.Second)

	disk.toggle.On()
	waitReady(t, s, true, 5*time.Second)
	if _, err := s.List(t.Context(), "uma", store.ListQuery{Limit: 10}); err != nil && !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("List while the disk fails = %v; want a page or ErrUnavailable", err)
	}
	if _, err := s.Subscribe(t.Context(), []notify.Topic{"t"}, []notify.UserID{"uma"}); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Subscribe while the disk fails = %v; want ErrUnavailable", err)
	}
	disk.toggle.Off()
	waitReady(t, s, false, 10*time.Second)
	if got := readIDs(t, s, "uma", 0); len(got) != 1 || got[0] != "before" {
		t.Errorf("inbox after recovery = %v; want [before]", got)
	}
	appendOK(t, s, to(note("after"), "uma"))
	if _, err := s.Subscribe(t.Context(), []notify.Topic{"t"}, []notify.UserID{"uma"}); err != nil {
		t.Errorf("Subscribe after recovery: %v", err)
	}
}
