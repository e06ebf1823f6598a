package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/logbuf"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
	"github.com/heraldhq/herald/internal/store/storetest"
)

func openT(t *testing.T, dir string, opts embedded.Options) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, hook store.CommitHook) store.Store {
		return openT(t, t.TempDir(), embedded.Options{OnCommit: hook})
	})
	storetest.RunInbox(t, func(t *testing.T, hook store.CommitHook) store.Store {
		return openT(t, t.TempDir(), embedded.Options{OnCommit: hook})
	})
	storetest.RunParts(t, func(t *testing.T, hook store.CommitHook) store.Store {
		return openT(t, t.TempDir(), embedded.Options{OnCommit: hook})
	})
	// Groups of one request at a time must keep the contract too.
	t.Run("MaxBatch=1", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, func(t *testing.T, hook store.CommitHook) store.Store {
			return openT(t, t.TempDir(), embedded.Options{OnCommit: hook, MaxBatch: 1})
		})
	})
	storetest.RunRetention(t, 5, func(t *testing.T, hook store.CommitHook) store.Store {
		return openT(t, t.TempDir(), embedded.Options{OnCommit: hook, RetentionCount: 5})
	})
	storetest.RunSubscriptions(t, func(t *testing.T, hook store.CommitHook) store.Store {
		return openT(t, t.TempDir(), embedded.Options{OnCommit: hook})
	})
	storetest.RunPreferences(t, func(t *testing.T, hook store.CommitHook) store.Store {
		return openT(t, t.TempDir(), embedded.Options{OnCommit: hook})
	})
}

// clock is an injected time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func note(id string) *notify.Notification {
	return &notify.Notification{ID: id, Title: id, CreateTime: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
}

func to(n *notify.Notification, users ...notify.UserID) store.Delivery {
	d := store.Delivery{Notification: n}
	for _, u := range users {
		d.Recipients = append(d.Recipients, store.Recipient{User: u})
	}
	return d
}

func appendOK(t *testing.T, s store.Store, ds ...store.Delivery) []store.Result {
	t.Helper()
	res, err := s.Append(t.Context(), ds)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

func readIDs(t *testing.T, s store.Store, user notify.UserID, after notify.Cursor) []string {
	t.Helper()
	es, err := s.Read(t.Context(), user, after, 0)
	if err != nil {
		t.Fatalf("Read(%s, %d): %v", user, after, err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.Notification.ID)
	}
	return ids
}

func last(t *testing.T, s store.Store, user notify.UserID) notify.Cursor {
	t.Helper()
	c, err := s.Last(t.Context(), user)
	if err != nil {
		t.Fatalf("Last: %v", err)
	}
	return c
}

func TestReopenRestoresState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{RetentionCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	keyed := note("k1")
	keyed.IdempotencyKey = "svc/k1"
	appendOK(t, s, to(keyed, "ann", "ben"))
	for i := range 4 {
		appendOK(t, s, to(note(fmt.Sprint("x", i)), "ann"))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openT(t, dir, embedded.Options{RetentionCount: 3})
	if got := last(t, s, "ann"); got != 5 {
		t.Errorf("ann Last = %d after reopen, want 5", got)
	}
	if got := fmt.Sprint(readIDs(t, s, "ann", 2)); got != "[x1 x2 x3]" {
		t.Errorf("ann entries = %s, want [x1 x2 x3]", got)
	}
	if _, err := s.Read(t.Context(), "ann", 1, 0); !errors.Is(err, notify.ErrCursorExpired) {
		t.Errorf("Read below the floor after reopen: %v, want ErrCursorExpired", err)
	}
	retry := note("k1-retry")
	retry.IdempotencyKey = "svc/k1"
	if res := appendOK(t, s, to(retry, "ann")); !res[0].Duplicate || res[0].ID != "k1" || res[0].Recipients != 2 {
		t.Errorf("retry after reopen = %+v, want duplicate of k1 with 2 recipients", res[0])
	}
	appendOK(t, s, to(note("y"), "ann", "ben"))
	if a, b := last(t, s, "ann"), last(t, s, "ben"); a != 6 || b != 2 {
		t.Errorf("cursors after reopen: ann %d ben %d, want 6 and 2", a, b)
	}
}

func TestRetentionByAge(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := openT(t, t.TempDir(), embedded.Options{Now: clk.Now, RetentionAge: 48 * time.Hour})
	// More users than one sweep chunk, so the sweep resumes between chunks.
	users := make([]notify.UserID, 700)
	for i := range users {
		users[i] = notify.UserID(fmt.Sprintf("user-%04d", i))
	}
	appendOK(t, s, to(note("old"), users...))
	clk.Advance(24 * time.Hour)
	appendOK(t, s, to(note("mid"), users[:2]...))
	clk.Advance(25 * time.Hour) // "old" is now 49h old, "mid" 25h.
	appendOK(t, s, to(note("new"), users[0]))

	if err := s.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if got := fmt.Sprint(readIDs(t, s, users[0], 1)); got != "[mid new]" {
		t.Errorf("%s after sweep = %s, want [mid new]", users[0], got)
	}
	for _, u := range []notify.UserID{users[0], users[1], users[699]} {
		if _, err := s.Read(t.Context(), u, 0, 0); !errors.Is(err, notify.ErrCursorExpired) {
			t.Errorf("Read(%s, 0) after sweep: %v, want ErrCursorExpired", u, err)
		}
	}
	if ids := readIDs(t, s, users[699], 1); len(ids) != 0 {
		t.Errorf("%s still has %v", users[699], ids)
	}
	// Cursors go on from where they were, never reused.
	appendOK(t, s, to(note("later"), users[699]))
	if c := last(t, s, users[699]); c != 2 {
		t.Errorf("Last after sweep and append = %d, want 2", c)
	}
}

func TestSweepPurgesExpiredAndIdempotency(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := openT(t, t.TempDir(), embedded.Options{Now: clk.Now, IdempotencyWindow: time.Hour})
	short := note("short")
	short.ExpireTime = clk.Now().Add(time.Minute)
	short.IdempotencyKey = "svc/a"
	appendOK(t, s, to(short, "olga"), to(note("keep"), "olga"))
	if got := fmt.Sprint(readIDs(t, s, "olga", 0)); got != "[short keep]" {
		t.Fatalf("before expiry: %s", got)
	}
	clk.Advance(2 * time.Hour)
	if got := fmt.Sprint(readIDs(t, s, "olga", 0)); got != "[keep]" {
		t.Errorf("after expiry: %s, want [keep]", got)
	}
	// The window passed: the key is new again, before and after the sweep.
	again := note("again")
	again.IdempotencyKey = "svc/a"
	if res := appendOK(t, s, to(again, "olga")); res[0].Duplicate {
		t.Error("key still a duplicate after the window")
	}
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// The sweep must not delete the record of the reused key.
	third := note("third")
	third.IdempotencyKey = "svc/a"
	if res := appendOK(t, s, to(third, "olga")); !res[0].Duplicate || res[0].ID != "again" {
		t.Errorf("third = %+v, want duplicate of again", res[0])
	}
	if got := fmt.Sprint(readIDs(t, s, "olga", 0)); got != "[keep again]" {
		t.Errorf("after sweep: %s, want [keep again]", got)
	}
	clk.Advance(2 * time.Hour)
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	fourth := note("fourth")
	fourth.IdempotencyKey = "svc/a"
	if res := appendOK(t, s, to(fourth, "olga")); res[0].Duplicate {
		t.Error("key still a duplicate after its record was swept")
	}
}

func TestCancelWhileQueued(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), embedded.Options{})
	appendOK(t, s, to(note("first"), "pat"))
	release := embedded.HoldWriter(s) // the writer is now busy
	ctx, cancel := context.WithCancel(t.Context())
	second := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, []store.Delivery{to(note("second"), "pat")})
		second <- err
	}()
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Append: %v, want context.Canceled", err)
	}
	release()
	appendOK(t, s, to(note("third"), "pat"))
	if got := fmt.Sprint(readIDs(t, s, "pat", 0)); got != "[first third]" {
		t.Errorf("entries = %s, want [first third]", got)
	}
}

func TestCloseWithAppendsInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const callers = 20
	var (
		wg    sync.WaitGroup
		acked sync.Map
	)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			id := fmt.Sprint("c", i)
			_, err := s.Append(context.Background(), []store.Delivery{to(note(id), "quinn")})
			switch {
			case err == nil:
				acked.Store(id, true)
			case !errors.Is(err, notify.ErrClosed):
				t.Errorf("Append during Close: %v", err)
			}
		})
	}
	close(start)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	s = openT(t, dir, embedded.Options{})
	stored := map[string]bool{}
	for _, id := range readIDs(t, s, "quinn", 0) {
		stored[id] = true
	}
	acked.Range(func(k, _ any) bool {
		if !stored[k.(string)] {
			t.Errorf("acknowledged %s lost", k)
		}
		return true
	})
}

func TestPebbleLogsGoToLogger(t *testing.T) {
	t.Parallel()
	var buf logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	openT(t, t.TempDir(), embedded.Options{Logger: log})
	if out := buf.String(); !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "WALs") {
		t.Errorf("Pebble's startup log did not reach the logger at debug level:\n%s", out)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := openT(t, t.TempDir(), embedded.Options{Registerer: reg})
	appendOK(t, s, to(note("m1"), "rita", "sam"), to(note("m2"), "rita"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			got[mf.GetName()] = m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			got[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
		}
	}
	for name, want := range map[string]float64{
		"herald_store_appends_total":         1,
		"herald_store_entries_written_total": 3,
		"herald_store_group_entries":         1,
		"herald_store_commit_seconds":        1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	// A second store on the same registry counts into the same collectors
	// (promreg), as every component does, instead of refusing to open.
	s2 := openT(t, t.TempDir(), embedded.Options{Registerer: reg})
	appendOK(t, s2, to(note("m3"), "rita"))
	mfs, err = reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "herald_store_appends_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 2 {
				t.Errorf("herald_store_appends_total after a second store's append = %v, want 2", got)
			}
		}
	}
}

// TestBackgroundSweep lets the ticker run the sweep while appends go on.
func TestBackgroundSweep(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := openT(t, t.TempDir(), embedded.Options{Now: clk.Now, RetentionAge: time.Hour, SweepInterval: time.Millisecond})
	appendOK(t, s, to(note("old"), "vera"))
	clk.Advance(2 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		appendOK(t, s, to(note(fmt.Sprint("new", i)), "walt"))
		if _, err := s.Read(t.Context(), "vera", 0, 0); errors.Is(err, notify.ErrCursorExpired) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background sweep never removed the old entry")
		}
	}
	if ids := readIDs(t, s, "vera", 1); len(ids) != 0 {
		t.Errorf("vera still has %v", ids)
	}
}

// TestGroupBeyondRetention: one append that brings a user more entries
// than RetentionCount keeps only the newest, for every user of the group
// whatever their order in it, and so does the store reopened.
func TestGroupBeyondRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := embedded.Options{RetentionCount: 3}
	s, err := embedded.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ds []store.Delivery
	for i := range 5 {
		// Users out of key order, and one with a longer ID.
		ds = append(ds, to(note(fmt.Sprint("g", i)), "zed", "ann", "bob-the-second"))
	}
	appendOK(t, s, ds...)
	check := func(when string) {
		t.Helper()
		for _, u := range []notify.UserID{"zed", "ann", "bob-the-second"} {
			if got := last(t, s, u); got != 5 {
				t.Errorf("%s: %s Last = %d, want 5", when, u, got)
			}
			if got := fmt.Sprint(readIDs(t, s, u, 2)); got != "[g2 g3 g4]" {
				t.Errorf("%s: %s entries = %s, want [g2 g3 g4]", when, u, got)
			}
			if c := counts(t, s, u); c != (notify.Counts{Unread: 3, Unseen: 3}) {
				t.Errorf("%s: %s counts = %+v, want {3 3}", when, u, c)
			}
		}
	}
	check("after the append")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, opts)
	check("after reopen")
}

func TestChannelContract(t *testing.T) {
	t.Parallel()
	storetest.RunChannels(t, func(t *testing.T, o storetest.ChannelOptions) store.Store {
		return openT(t, t.TempDir(), embedded.Options{
			OnCommit: o.Hook, ChannelHistory: o.History, ChannelHistoryAge: o.Age, Now: o.Now,
			// The test's clock rules alone: no sweep by the wall clock.
			SweepInterval: time.Hour,
		})
	})
}
