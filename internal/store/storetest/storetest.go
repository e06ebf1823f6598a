// Package storetest is the contract test suite of store.Store: every
// backend runs it from its own tests, so that the embedded and the Redis
// store cannot drift apart.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Open opens a fresh, empty store that hands committed entries to hook. The
// store may be closed by the test and again by a cleanup, so Close must be
// safe to call twice.
type Open func(t *testing.T, hook store.CommitHook) store.Store

// Run runs the contract tests against the backend that open opens.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"CursorsIncreasePerUser", testCursorsIncrease},
		{"FieldsRoundTrip", testFieldsRoundTrip},
		{"RecipientsAndTopics", testRecipientsAndTopics},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Idempotency", testIdempotency},
		{"IdempotencyInOneAppend", testIdempotencyOneAppend},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"IdempotencyConflict", testIdempotencyConflict},
		{"ReadPaging", testReadPaging},
		{"FutureCursorExpired", testFutureCursor},
		{"ExpiredNotificationsSkipped", testExpiredSkipped},
		{"Last", testLast},
		{"CancelledContext", testCancelled},
		{"AppendAfterClose", testAppendAfterClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// RunRetention checks retention by count against a backend that open opens
// with a per-user retention of exactly keep entries.
func RunRetention(t *testing.T, keep int, open Open) {
	t.Run("RetentionByCount", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := open(t, nil)
		const user = "trimmed"
		total := keep + 5
		for i := range total {
			mustAppend(t, s, deliver(newNotification(fmt.Sprintf("r%d", i)), user))
		}
		got := mustRead(t, s, user, notify.Cursor(total-keep), 0)
		if len(got) != keep {
			t.Fatalf("Read after the floor: got %d entries, want %d", len(got), keep)
		}
		if want := fmt.Sprintf("r%d", total-keep); got[0].Notification.Title != want {
			t.Errorf("oldest kept = %s, want %s", got[0].Notification.Title, want)
		}
		for _, after := range []notify.Cursor{0, 1, notify.Cursor(total - keep - 1)} {
			if _, err := s.Read(ctx, user, after, 10); !errors.Is(err, notify.ErrCursorExpired) {
				t.Errorf("Read(after=%d) error = %v, want ErrCursorExpired", after, err)
			}
		}
		// Cursors never repeat, even after trimming.
		res := mustAppend(t, s, deliver(newNotification("after-trim"), user))
		if res[0].Duplicate {
			t.Fatal("unexpected duplicate")
		}
		if last := mustLast(t, s, user); last != notify.Cursor(total+1) {
			t.Errorf("Last = %d, want %d", last, total+1)
		}
	})
}

// recorder collects what the commit hook receives.
type recorder struct {
	mu      sync.Mutex
	entries []notify.Entry
}

func (r *recorder) hook(es []notify.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, es...)
}

func (r *recorder) byUser() map[notify.UserID][]notify.Cursor {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[notify.UserID][]notify.Cursor)
	for _, e := range r.entries {
		out[e.User] = append(out[e.User], e.Cursor)
	}
	return out
}

var ids atomic.Int64

func newNotification(title string) *notify.Notification {
	return &notify.Notification{
		ID:         fmt.Sprintf("n-%d-%s", ids.Add(1), title),
		Type:       "test",
		Title:      title,
		CreateTime: time.Now().UTC().Truncate(time.Microsecond),
	}
}

func deliver(n *notify.Notification, users ...notify.UserID) store.Delivery {
	d := store.Delivery{Notification: n}
	for _, u := range users {
		d.Recipients = append(d.Recipients, store.Recipient{User: u})
	}
	return d
}

func mustAppend(t *testing.T, s store.Store, ds ...store.Delivery) []store.Result {
	t.Helper()
	res, err := s.Append(t.Context(), ds)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(res) != len(ds) {
		t.Fatalf("Append returned %d results for %d deliveries", len(res), len(ds))
	}
	return res
}

func mustRead(t *testing.T, s store.Store, user notify.UserID, after notify.Cursor, limit int) []notify.Entry {
	t.Helper()
	es, err := s.Read(t.Context(), user, after, limit)
	if err != nil {
		t.Fatalf("Read(%s, %d, %d): %v", user, after, limit, err)
	}
	return es
}

func mustLast(t *testing.T, s store.Store, user notify.UserID) notify.Cursor {
	t.Helper()
	c, err := s.Last(t.Context(), user)
	if err != nil {
		t.Fatalf("Last(%s): %v", user, err)
	}
	return c
}

// checkGapless checks that cs is strictly increasing by one.
func checkGapless(t *testing.T, what string, cs []notify.Cursor) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		if cs[i] != cs[i-1]+1 {
			t.Fatalf("%s: cursors %v not gapless and increasing at %d", what, cs, i)
		}
	}
}

func testCursorsIncrease(t *testing.T, open Open) {
	rec := &recorder{}
	s := open(t, rec.hook)
	for i := range 5 {
		mustAppend(t, s, deliver(newNotification(fmt.Sprint(i)), "alice", "bob"))
		mustAppend(t, s, deliver(newNotification(fmt.Sprint(i)), "alice"))
	}
	for user, want := range map[notify.UserID]int{"alice": 10, "bob": 5} {
		es := mustRead(t, s, user, 0, 100)
		if len(es) != want {
			t.Fatalf("%s: got %d entries, want %d", user, len(es), want)
		}
		var cs []notify.Cursor
		for _, e := range es {
			if e.User != user {
				t.Errorf("entry of %s has User %s", user, e.User)
			}
			cs = append(cs, e.Cursor)
		}
		if cs[0] == 0 {
			t.Errorf("%s: first cursor is 0, which means 'before the first entry'", user)
		}
		checkGapless(t, string(user), cs)
		if got := rec.byUser()[user]; fmt.Sprint(got) != fmt.Sprint(cs) {
			t.Errorf("%s: hook saw %v, Read returned %v", user, got, cs)
		}
	}
}

func testFieldsRoundTrip(t *testing.T, open Open) {
	s := open(t, nil)
	create := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	n := &notify.Notification{
		ID:         "fields-1",
		Type:       "order.shipped",
		Title:      "Shipped \u2713",
		Body:       "line1\nline2",
		Data:       json.RawMessage(`{"order":42,"tags":["a","b"]}`),
		Category:   "orders",
		Priority:   notify.PriorityHigh,
		CreateTime: create,
		ExpireTime: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond),
	}
	mustAppend(t, s, deliver(n, "carol"))
	es := mustRead(t, s, "carol", 0, 10)
	if len(es) != 1 {
		t.Fatalf("got %d entries, want 1", len(es))
	}
	got := es[0].Notification
	if got.ID != n.ID || got.Type != n.Type || got.Title != n.Title || got.Body != n.Body ||
		string(got.Data) != string(n.Data) || got.Category != n.Category || got.Priority != n.Priority ||
		!got.CreateTime.Equal(n.CreateTime) || !got.ExpireTime.Equal(n.ExpireTime) {
		t.Errorf("Read notification = %+v, want %+v", got, n)
	}
	if string(es[0].Payload()) != string(n.Payload()) {
		t.Errorf("payload = %s, want %s", es[0].Payload(), n.Payload())
	}
}

func testRecipientsAndTopics(t *testing.T, open Open) {
	s := open(t, nil)
	n := newNotification("fanout")
	d := store.Delivery{Notification: n, Recipients: []store.Recipient{
		{User: "direct"}, {User: "viaA", Topic: "topic/a"}, {User: "viaB", Topic: "topic/b"},
	}}
	res := mustAppend(t, s, d)
	if res[0].ID != n.ID || res[0].Recipients != 3 || res[0].Duplicate {
		t.Errorf("result = %+v, want ID %s, 3 recipients", res[0], n.ID)
	}
	for _, r := range d.Recipients {
		es := mustRead(t, s, r.User, 0, 10)
		if len(es) != 1 {
			t.Fatalf("%s: got %d entries, want 1", r.User, len(es))
		}
		if es[0].Topic != r.Topic || es[0].Notification.ID != n.ID {
			t.Errorf("%s: entry topic %q id %s, want %q %s", r.User, es[0].Topic, es[0].Notification.ID, r.Topic, n.ID)
		}
	}
	// Several deliveries in one Append keep their order.
	res = mustAppend(t, s, deliver(newNotification("x"), "direct"), deliver(newNotification("y"), "direct"))
	es := mustRead(t, s, "direct", 1, 10)
	if len(es) != 2 || es[0].Notification.ID != res[0].ID || es[1].Notification.ID != res[1].ID {
		t.Errorf("entries %v, want %s then %s", es, res[0].ID, res[1].ID)
	}
}

func testConcurrentAppends(t *testing.T, open Open) {
	rec := &recorder{}
	s := open(t, rec.hook)
	const (
		workers = 8
		each    = 40
	)
	users := []notify.UserID{"u0", "u1", "u2", "u3", "u4"}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		sent  = make(map[notify.UserID]int)
		errCh = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Each worker addresses a rotating pair of users.
				a, b := users[(w+i)%len(users)], users[(w+i+1)%len(users)]
				if _, err := s.Append(t.Context(), []store.Delivery{deliver(newNotification("c"), a, b)}); err != nil {
					errCh <- err
					return
				}
				mu.Lock()
				sent[a]++
				sent[b]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Fatalf("Append: %v", err)
	}
	hooked := rec.byUser()
	for _, u := range users {
		es := mustRead(t, s, u, 0, 10*workers*each)
		if len(es) != sent[u] {
			t.Fatalf("%s: %d entries, want %d", u, len(es), sent[u])
		}
		var cs []notify.Cursor
		for _, e := range es {
			cs = append(cs, e.Cursor)
		}
		checkGapless(t, string(u)+" Read", cs)
		checkGapless(t, string(u)+" hook", hooked[u])
		if fmt.Sprint(hooked[u]) != fmt.Sprint(cs) {
			t.Errorf("%s: hook order %v differs from Read %v", u, hooked[u], cs)
		}
		if last := mustLast(t, s, u); last != cs[len(cs)-1] {
			t.Errorf("%s: Last = %d, want %d", u, last, cs[len(cs)-1])
		}
	}
}

func withKey(n *notify.Notification, key string) *notify.Notification {
	n.IdempotencyKey = key
	return n
}

func testIdempotency(t *testing.T, open Open) {
	rec := &recorder{}
	s := open(t, rec.hook)
	first := mustAppend(t, s, deliver(withKey(newNotification("once"), "svc/key-1"), "dave", "erin"))[0]
	if first.Duplicate || first.Recipients != 2 {
		t.Fatalf("first append = %+v", first)
	}
	retry := mustAppend(t, s, deliver(withKey(newNotification("again"), "svc/key-1"), "dave"))[0]
	if !retry.Duplicate || retry.ID != first.ID || retry.Recipients != 2 {
		t.Errorf("retry = %+v, want duplicate of %+v", retry, first)
	}
	if last := mustLast(t, s, "dave"); last != 1 {
		t.Errorf("dave Last = %d after a duplicate, want 1", last)
	}
	if n := len(rec.byUser()["dave"]); n != 1 {
		t.Errorf("hook saw %d entries for dave, want 1", n)
	}
	other := mustAppend(t, s, deliver(withKey(newNotification("other"), "svc/key-2"), "dave"))[0]
	if other.Duplicate {
		t.Error("a different key was taken for a duplicate")
	}
}

func testIdempotencyOneAppend(t *testing.T, open Open) {
	s := open(t, nil)
	res := mustAppend(t, s,
		deliver(withKey(newNotification("a"), "svc/same"), "frank"),
		deliver(withKey(newNotification("b"), "svc/same"), "frank"),
	)
	if res[0].Duplicate || !res[1].Duplicate || res[1].ID != res[0].ID || res[1].Recipients != 1 {
		t.Errorf("results = %+v, want the second a duplicate of the first", res)
	}
	if es := mustRead(t, s, "frank", 0, 10); len(es) != 1 {
		t.Errorf("frank has %d entries, want 1", len(es))
	}
}

func testIdempotencyConcurrent(t *testing.T, open Open) {
	s := open(t, nil)
	const callers = 16
	results := make([]store.Result, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			var res []store.Result
			res, errs[i] = s.Append(t.Context(), []store.Delivery{deliver(withKey(newNotification("race"), "svc/race"), "gina")})
			if errs[i] == nil {
				results[i] = res[0]
			}
		})
	}
	wg.Wait()
	originals := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("Append %d: %v", i, errs[i])
		}
		if !results[i].Duplicate {
			originals++
		}
		if results[i].ID != results[0].ID {
			t.Errorf("result %d has ID %s, want %s", i, results[i].ID, results[0].ID)
		}
	}
	if originals != 1 {
		t.Errorf("%d appends were not duplicates, want exactly 1", originals)
	}
	if es := mustRead(t, s, "gina", 0, 100); len(es) != 1 {
		t.Errorf("gina has %d entries, want 1", len(es))
	}
}

func testReadPaging(t *testing.T, open Open) {
	s := open(t, nil)
	const total = 25
	var want []string
	for i := range total {
		res := mustAppend(t, s, deliver(newNotification(fmt.Sprint(i)), "hank"))
		want = append(want, res[0].ID)
	}
	var got []string
	after := notify.Cursor(0)
	var sizes []int
	for range total {
		page := mustRead(t, s, "hank", after, 10)
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Cursor <= after {
				t.Fatalf("Read after %d returned cursor %d", after, e.Cursor)
			}
			got = append(got, e.Notification.ID)
			after = e.Cursor
		}
	}
	if fmt.Sprint(sizes) != "[10 10 5 0]" {
		t.Errorf("page sizes = %v, want [10 10 5 0]", sizes)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged IDs = %v, want %v", got, want)
	}
	if es := mustRead(t, s, "hank", mustLast(t, s, "hank"), 10); len(es) != 0 {
		t.Errorf("Read after Last returned %d entries", len(es))
	}
	if es := mustRead(t, s, "nobody", 0, 10); len(es) != 0 {
		t.Errorf("Read of an unknown user returned %d entries", len(es))
	}
}

func testFutureCursor(t *testing.T, open Open) {
	s := open(t, nil)
	mustAppend(t, s, deliver(newNotification("one"), "ivan"))
	for _, tc := range []struct {
		user  notify.UserID
		after notify.Cursor
	}{{"ivan", 2}, {"ivan", 1 << 40}, {"nobody", 1}} {
		if _, err := s.Read(t.Context(), tc.user, tc.after, 10); !errors.Is(err, notify.ErrCursorExpired) {
			t.Errorf("Read(%s, after=%d) error = %v, want ErrCursorExpired", tc.user, tc.after, err)
		}
	}
}

func testExpiredSkipped(t *testing.T, open Open) {
	s := open(t, nil)
	live1 := newNotification("live1")
	gone := newNotification("gone")
	gone.ExpireTime = time.Now().Add(-time.Hour)
	later := newNotification("later")
	later.ExpireTime = time.Now().Add(time.Hour)
	mustAppend(t, s, deliver(live1, "judy"), deliver(gone, "judy"), deliver(later, "judy"))
	es := mustRead(t, s, "judy", 0, 10)
	if len(es) != 2 || es[0].Notification.ID != live1.ID || es[1].Notification.ID != later.ID {
		t.Fatalf("Read = %v, want %s and %s", es, live1.ID, later.ID)
	}
	if es[1].Cursor != es[0].Cursor+2 {
		t.Errorf("cursors %d, %d: want the expired entry between them", es[0].Cursor, es[1].Cursor)
	}
	// Skipped entries do not count toward the limit: a page is short only
	// at the end of the inbox.
	if page := mustRead(t, s, "judy", es[0].Cursor, 1); len(page) != 1 || page[0].Notification.ID != later.ID {
		t.Errorf("Read past an expired entry = %v, want %s", page, later.ID)
	}
}

func testLast(t *testing.T, open Open) {
	s := open(t, nil)
	if c := mustLast(t, s, "kate"); c != 0 {
		t.Errorf("Last of a new user = %d, want 0", c)
	}
	mustAppend(t, s, deliver(newNotification("1"), "kate"))
	mustAppend(t, s, deliver(newNotification("2"), "kate", "leo"))
	es := mustRead(t, s, "kate", 0, 10)
	if c := mustLast(t, s, "kate"); c != es[len(es)-1].Cursor {
		t.Errorf("Last = %d, want %d", c, es[len(es)-1].Cursor)
	}
}

func testCancelled(t *testing.T, open Open) {
	s := open(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Append(ctx, []store.Delivery{deliver(newNotification("x"), "mike")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: error = %v, want context.Canceled", err)
	}
	if c := mustLast(t, s, "mike"); c != 0 {
		t.Errorf("Last = %d after a cancelled Append, want 0", c)
	}
}

func testAppendAfterClose(t *testing.T, open Open) {
	s := open(t, nil)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Append(t.Context(), []store.Delivery{deliver(newNotification("x"), "nina")}); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("Append after Close: error = %v, want ErrClosed", err)
	}
}
