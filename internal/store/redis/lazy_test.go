package redisstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// The tests of this file read layout v1's keys and fields, so they run
// in v1 (mixed_test.go has v2's).

// trimSlack mirrors the append script's: how many entries beyond keep the
// stored range may hold before an append deletes them.
func trimSlack(keep int) int { return min(32, max(8, keep/8)) }

// refreshEvery and keyTTL mirror the append script's TTL schedule.
func refreshEvery(age time.Duration) time.Duration { return age / 16 }
func keyTTL(age time.Duration) time.Duration       { return age + 2*refreshEvery(age) }

func appendN(t *testing.T, s *Store, user notify.UserID, n *notify.Notification) notify.Cursor {
	t.Helper()
	res, err := s.Append(t.Context(), []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: user}}}})
	if err != nil {
		t.Fatalf("Append %s: %v", n.ID, err)
	}
	if res[0].Recipients != 1 {
		t.Fatalf("Append %s: %+v", n.ID, res[0])
	}
	last, err := s.Last(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func hlen(t *testing.T, s *Store, key string) int {
	t.Helper()
	n, err := s.rdb.HLen(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func metaField(t *testing.T, s *Store, user notify.UserID, field string) int64 {
	t.Helper()
	v, err := s.rdb.HGet(t.Context(), s.userKeys(user).meta, field).Int64()
	if err != nil {
		t.Fatalf("meta %s: %v", field, err)
	}
	return v
}

// TestTrimInBatches: the append script deletes entries beyond
// RetentionCount only once trimSlack of them piled up, yet Read, List,
// Counts and Mark never see more than RetentionCount entries, and the
// counts stay exact across every batch, with some entries read.
func TestTrimInBatches(t *testing.T) {
	t.Parallel()
	const keep = 5
	s := OpenTest(t, Options{Layout: LayoutV1, RetentionCount: keep})
	ctx := t.Context()
	const user = "batched"
	k := s.userKeys(user)
	read := map[notify.Cursor]bool{} // the model: which cursors are read
	lazy := false
	for i := 1; i <= 60; i++ {
		last := appendN(t, s, user, &notify.Notification{ID: fmt.Sprint("n", i), Title: "t"})
		if i%3 == 0 {
			if n, _, err := s.Mark(ctx, user, store.Mark{Action: store.MarkRead, IDs: []string{fmt.Sprint("n", i)}}); err != nil || n != 1 {
				t.Fatalf("step %d: Mark = %d, %v", i, n, err)
			}
			read[last] = true
		}
		kept := min(i, keep)
		floor := last - notify.Cursor(kept)
		want := notify.Counts{Unread: kept, Unseen: kept}
		for c := floor + 1; c <= last; c++ {
			if read[c] {
				want.Unread--
				want.Unseen--
			}
		}
		es, err := s.Read(ctx, user, floor, 100)
		if err != nil || len(es) != kept || es[0].Cursor != floor+1 {
			t.Fatalf("step %d: Read after %d = %d entries, %v; want %d from %d", i, floor, len(es), err, kept, floor+1)
		}
		if floor > 0 {
			if _, err := s.Read(ctx, user, floor-1, 100); !errors.Is(err, notify.ErrCursorExpired) {
				t.Fatalf("step %d: Read after %d: %v, want ErrCursorExpired", i, floor-1, err)
			}
		}
		p, err := s.List(ctx, user, store.ListQuery{Limit: 100, Archived: store.ArchiveInclude})
		if err != nil || len(p.Entries) != kept || p.Counts != want {
			t.Fatalf("step %d: List = %d entries, counts %+v, %v; want %d, %+v", i, len(p.Entries), p.Counts, err, kept, want)
		}
		if got := recount(t, s, user); got != want {
			t.Fatalf("step %d: recount %+v, want %+v", i, got, want)
		}
		stored := hlen(t, s, k.state)
		if stored > keep+trimSlack(keep)-1 {
			t.Fatalf("step %d: %d entries stored, want at most %d", i, stored, keep+trimSlack(keep)-1)
		}
		if stored > kept {
			lazy = true
		}
		if e, ids := hlen(t, s, k.entries), int(s.rdb.ZCard(ctx, k.ids).Val()); e != stored || ids != stored {
			t.Fatalf("step %d: %d states, %d values, %d IDs stored", i, stored, e, ids)
		}
	}
	if !lazy {
		t.Error("every append trimmed at once: want trims in batches")
	}
	// Marking everything read touches only the entries Read shows.
	n, c, err := s.Mark(ctx, user, store.Mark{Action: store.MarkRead, UpTo: 60})
	if err != nil || n > keep || c != (notify.Counts{}) {
		t.Errorf("Mark all read = %d, %+v, %v; want at most %d changed and no counts", n, c, err, keep)
	}
	// A notification ID is a duplicate while its entry is stored, even
	// hidden (as when a resumed fan-out repeats it); once deleted, it
	// is new again.
	res, err := s.Append(ctx, []store.Delivery{{Notification: &notify.Notification{ID: "n60"}, Recipients: []store.Recipient{{User: user}}}})
	if err != nil || res[0].Recipients != 1 {
		t.Fatalf("Append again: %+v, %v", res, err)
	}
	if last, _ := s.Last(ctx, user); last != 60 {
		t.Errorf("Last after appending n60 again = %d, want 60 (a duplicate)", last)
	}
}

// TestFastPathFields: the first append of an inbox leaves every field the
// fast path and the slow path read, so that neither relearns one later.
func TestFastPathFields(t *testing.T) {
	t.Parallel()
	s := OpenTest(t, Options{Layout: LayoutV1})
	appendN(t, s, "first", &notify.Notification{ID: "n1"})
	m, err := s.rdb.HGetAll(t.Context(), s.userKeys("first").meta).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"last", "unread", "unseen", "w", "d", "t", "x", "r", "o"} {
		if _, ok := m[f]; !ok {
			t.Errorf("meta after the first append = %v: no %s", m, f)
		}
	}
}

// TestTTLRefresh: the append script refreshes the TTLs of the inbox keys
// once per refreshEvery, not on every append, and always so that they
// outlive the newest entry by RetentionAge: at every append at time a,
// the last refresh r and the keys' remaining TTL give r + TTL ≥ a + age.
func TestTTLRefresh(t *testing.T) {
	t.Parallel()
	const age = time.Hour
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{Layout: LayoutV1, RetentionAge: age, Now: clk.Now})
	ctx := t.Context()
	const user = "refreshed"
	k := s.userKeys(user)
	rng := rand.New(rand.NewPCG(3, 4))
	start := clk.Now()
	refreshes := map[int64]bool{}
	for i := range 300 {
		n := &notify.Notification{ID: fmt.Sprint("n", i), Title: "t"}
		if i%7 == 0 {
			n.ExpireTime = clk.Now().Add(time.Duration(1+rng.IntN(90)) * time.Minute)
		}
		appendN(t, s, user, n)
		a := micros(clk.Now())
		r := metaField(t, s, user, "r")
		refreshes[r] = true
		if a-r >= refreshEvery(age).Microseconds() || r > a {
			t.Fatalf("step %d: last refresh at %d, append at %d: want within %v", i, r, a, refreshEvery(age))
		}
		for _, key := range []string{k.state, k.entries, k.ids} {
			ttl, err := s.rdb.PTTL(ctx, key).Result()
			if err != nil || ttl <= 0 || ttl > keyTTL(age)+time.Millisecond {
				t.Fatalf("step %d: PTTL %s = %v, %v", i, key, ttl, err)
			}
			if r+ttl.Microseconds() < a+age.Microseconds() {
				t.Fatalf("step %d: %s expires %v after the refresh at %d, before the entry of %d is %v old", i, key, ttl, r, a, age)
			}
		}
		if ttl := s.rdb.PTTL(ctx, k.expiring).Val(); s.rdb.Exists(ctx, k.expiring).Val() == 1 && ttl <= 0 {
			t.Fatalf("step %d: the expiring index has no TTL (%v)", i, ttl)
		}
		clk.Advance(time.Duration(rng.IntN(60)) * time.Second)
	}
	elapsed := clk.Now().Sub(start)
	if max := int(elapsed/refreshEvery(age)) + 2; len(refreshes) > max {
		t.Errorf("%d refreshes over %v, want at most %d (one per %v)", len(refreshes), elapsed, max, refreshEvery(age))
	}
}

// TestExpiringIndexTTL: the expiring index, emptied by the settling of
// its expiries and made again by an append between two refreshes, gets
// a TTL too.
func TestExpiringIndexTTL(t *testing.T) {
	t.Parallel()
	const age = time.Hour
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{Layout: LayoutV1, RetentionAge: age, Now: clk.Now})
	ctx := t.Context()
	k := s.userKeys("brief")
	appendN(t, s, "brief", &notify.Notification{ID: "a", ExpireTime: clk.Now().Add(time.Minute)})
	clk.Advance(2 * time.Minute)
	appendN(t, s, "brief", &notify.Notification{ID: "b"})
	if n := s.rdb.Exists(ctx, k.expiring).Val(); n != 0 {
		t.Fatalf("the expiring index still exists after its only expiry settled")
	}
	appendN(t, s, "brief", &notify.Notification{ID: "c", ExpireTime: clk.Now().Add(time.Minute)})
	if ttl := s.rdb.PTTL(ctx, k.expiring).Val(); ttl <= age {
		t.Errorf("PTTL of the expiring index made between refreshes = %v, want above %v", ttl, age)
	}
	if c, _ := s.Counts(ctx, "brief"); c != (notify.Counts{Unread: 2, Unseen: 2}) {
		t.Errorf("Counts = %+v, want b and c", c)
	}
}

// TestAgeTrimInBatches: entries older than RetentionAge are hidden at
// once and deleted once the oldest is older than the cutoff by age/32,
// without a count trim to carry them.
func TestAgeTrimInBatches(t *testing.T) {
	t.Parallel()
	const age, every = time.Hour, 30 * time.Second // more often than refreshes
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{Layout: LayoutV1, RetentionAge: age, Now: clk.Now})
	ctx := t.Context()
	k := s.userKeys("slow")
	for i := range 200 {
		appendN(t, s, "slow", &notify.Notification{ID: fmt.Sprint("n", i)})
		young := min(i+1, int(age/every)+1) // appended at most an hour ago
		p, err := s.List(ctx, "slow", store.ListQuery{Limit: 1000})
		if err != nil || len(p.Entries) != young || p.Counts.Unread != young {
			t.Fatalf("step %d: List = %d entries, %+v, %v; want %d", i, len(p.Entries), p.Counts, err, young)
		}
		if limit := int((age+age/32+every)/every) + 1; hlen(t, s, k.state) > limit {
			// The oldest is deleted at the first append after it is
			// older than the cutoff by age/32.
			t.Fatalf("step %d: %d entries stored, want at most %d", i, hlen(t, s, k.state), limit)
		}
		clk.Advance(every)
	}
}

// TestKeysExpiredWhole: when the inbox keys expired (the user was idle
// past their TTL) while the meta hash stayed, readers and the next append
// find no entries, counts start over, and cursors go on.
func TestKeysExpiredWhole(t *testing.T) {
	t.Parallel()
	const age = time.Hour
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{Layout: LayoutV1, RetentionAge: age, Now: clk.Now})
	ctx := t.Context()
	k := s.userKeys("idle")
	expire := func() {
		if err := s.rdb.Del(ctx, k.state, k.entries, k.ids, k.expiring).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		appendN(t, s, "idle", &notify.Notification{ID: fmt.Sprint("a", i), ExpireTime: clk.Now().Add(2 * age)})
	}
	// Redis expired the keys; by the store's clock the TTL has run out.
	expire()
	clk.Advance(keyTTL(age))
	if c, err := s.Counts(ctx, "idle"); err != nil || c != (notify.Counts{}) {
		t.Errorf("Counts after the keys expired = %+v, %v; want none", c, err)
	}
	if p, err := s.List(ctx, "idle", store.ListQuery{Limit: 10}); err != nil || len(p.Entries) != 0 || p.Last != 3 {
		t.Errorf("List after the keys expired = %+v, %v; want empty, Last 3", p, err)
	}
	if last := appendN(t, s, "idle", &notify.Notification{ID: "b"}); last != 4 {
		t.Errorf("cursor after the keys expired = %d, want 4", last)
	}
	if c, _ := s.Counts(ctx, "idle"); c != (notify.Counts{Unread: 1, Unseen: 1}) || recount(t, s, "idle") != c {
		t.Errorf("Counts = %+v, recount %+v; want one unread", c, recount(t, s, "idle"))
	}
	// The same, found by an append once the refresh is due.
	expire()
	clk.Advance(refreshEvery(age))
	if last := appendN(t, s, "idle", &notify.Notification{ID: "c"}); last != 5 {
		t.Errorf("cursor = %d, want 5", last)
	}
	if c, _ := s.Counts(ctx, "idle"); c != (notify.Counts{Unread: 1, Unseen: 1}) {
		t.Errorf("Counts = %+v, want one unread", c)
	}
	if es, err := s.Read(ctx, "idle", 4, 10); err != nil || len(es) != 1 || es[0].Notification.ID != "c" {
		t.Errorf("Read after 4 = %v, %v; want c alone", es, err)
	}
}

// legacyAppend appends to user as a node of the former format does.
func legacyAppend(t *testing.T, s *Store, user notify.UserID, ns ...*notify.Notification) {
	t.Helper()
	now := s.opts.Now()
	args := []any{micros(now), s.cutoff(now), s.opts.RetentionCount, s.opts.RetentionAge.Milliseconds()}
	for _, n := range ns {
		exp := expiry(n)
		args = append(args, n.ID, exp, strconv.FormatInt(micros(now), 10)+":"+strconv.FormatInt(exp, 10),
			encodeEntry("legacy", encodeNotification(nil, n)))
	}
	if err := legacyAppendScript.Run(t.Context(), s.rdb, s.userKeys(user).inbox(), args...).Err(); err != nil {
		t.Fatalf("legacy append: %v", err)
	}
}

// TestFormerFormat: an inbox written by nodes of the former format (no
// meta fields but last, floor and the counters; TTLs refreshed on every
// append) is read as it was, and appends of both formats may interleave
// during a rolling upgrade: counts stay exact, cursors contiguous, and
// the keys' TTLs cover the newest entry.
func TestFormerFormat(t *testing.T) {
	t.Parallel()
	const keep, age = 20, time.Hour
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{Layout: LayoutV1, RetentionCount: keep, RetentionAge: age, Now: clk.Now})
	ctx := t.Context()
	const user = "upgraded"
	var ns []*notify.Notification
	for i := range 30 {
		n := &notify.Notification{ID: fmt.Sprint("old", i), Title: fmt.Sprint("old ", i), CreateTime: clk.Now()}
		if i%5 == 0 {
			n.ExpireTime = clk.Now().Add(10 * time.Minute)
		}
		ns = append(ns, n)
	}
	legacyAppend(t, s, user, ns[:10]...)
	for _, n := range ns[10:] {
		legacyAppend(t, s, user, n)
	}
	if _, _, err := s.Mark(ctx, user, store.Mark{Action: store.MarkRead, IDs: []string{"old12", "old20"}}); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		c, err := s.Counts(ctx, user)
		if err != nil || c != recount(t, s, user) {
			t.Fatalf("%s: Counts = %+v, %v; recount %+v", step, c, err, recount(t, s, user))
		}
		p, err := s.List(ctx, user, store.ListQuery{Limit: 100})
		if want := liveNewest(t, s, user); err != nil || len(p.Entries) != want || p.Counts != c {
			t.Fatalf("%s: List = %d entries, counts %+v, %v; want %d, %+v", step, len(p.Entries), p.Counts, err, want, c)
		}
		for i := 1; i < len(p.Entries); i++ {
			if p.Entries[i].Cursor >= p.Entries[i-1].Cursor {
				t.Fatalf("%s: cursor %d after %d", step, p.Entries[i].Cursor, p.Entries[i-1].Cursor)
			}
		}
	}
	check("former format")
	es, err := s.Read(ctx, user, 10, 100)
	if err != nil || len(es) != keep || es[0].Notification.Title != "old 10" || es[0].Topic != "legacy" {
		t.Fatalf("Read after 10 = %d entries (%v), %v; want old 10 on", len(es), es[:min(1, len(es))], err)
	}
	clk.Advance(11 * time.Minute) // the expiring ones expire
	check("expired")
	for i := range 40 {
		if i%2 == 0 {
			legacyAppend(t, s, user, &notify.Notification{ID: fmt.Sprint("mixed-old", i), Title: "t"})
		} else {
			appendN(t, s, user, &notify.Notification{ID: fmt.Sprint("mixed-new", i), Title: "t", ExpireTime: clk.Now().Add(time.Duration(i) * time.Minute)})
		}
		check(fmt.Sprint("mixed ", i))
		if i%5 == 0 {
			if _, _, err := s.Mark(ctx, user, store.Mark{Action: store.MarkSeen, UpTo: notify.Cursor(25 + i)}); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprint("marked ", i))
		}
		clk.Advance(time.Minute)
		if last, _ := s.Last(ctx, user); last != notify.Cursor(31+i) {
			t.Fatalf("mixed %d: Last = %d, want %d", i, last, 31+i)
		}
	}
	// After a former writer, a new append refreshes the TTLs, which the
	// former one set to the bare retention age.
	legacyAppend(t, s, user, &notify.Notification{ID: "last-old"})
	appendN(t, s, user, &notify.Notification{ID: "first-new"})
	if ttl := s.rdb.PTTL(ctx, s.userKeys(user).state).Val(); ttl <= age {
		t.Errorf("PTTL after a new append = %v, want above %v", ttl, age)
	}
}

// liveNewest counts the live entries among user's newest RetentionCount,
// from the states stored.
func liveNewest(t *testing.T, s *Store, user notify.UserID) int {
	t.Helper()
	now := s.opts.Now()
	last := metaField(t, s, user, "last")
	states, err := s.rdb.HGetAll(t.Context(), s.userKeys(user).state).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for f, v := range states {
		c, _ := strconv.ParseInt(f, 10, 64)
		var at, exp int64
		if _, err := fmt.Sscanf(v[1:], "%d:%d", &at, &exp); err != nil {
			t.Fatalf("state %s = %q: %v", f, v, err)
		}
		if c > last-int64(s.opts.RetentionCount) && at >= s.cutoff(now) && (exp == 0 || exp > micros(now)) {
			n++
		}
	}
	return n
}

// TestSettleRecreatesRecord: the settle of a freshly claimed record
// writes it whole with its TTL, so a record that vanished between the
// claim and the settle comes back complete, and a retry is a duplicate.
func TestSettleRecreatesRecord(t *testing.T) {
	t.Parallel()
	s := OpenTest(t, Options{})
	ctx := t.Context()
	key := s.idemKey("svc/vanish")
	SetAfterAppend(s, func() error { return s.rdb.Del(ctx, key).Err() })
	n := &notify.Notification{ID: "v1", Title: "t", IdempotencyKey: "svc/vanish", Fingerprint: "fp"}
	if _, err := s.Append(ctx, []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "a"}, {User: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	SetAfterAppend(s, nil)
	rec, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil || rec["id"] != "v1" || rec["n"] != "2" || rec["done"] != "1" || rec["t"] == "" || rec["f"] != "fp" {
		t.Fatalf("record = %v, %v; want v1, 2 entries, done", rec, err)
	}
	if ttl := s.rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > DefaultIdempotencyWindow {
		t.Errorf("record PTTL = %v, want within the window", ttl)
	}
	retry := &notify.Notification{ID: "v2", Title: "t", IdempotencyKey: "svc/vanish", Fingerprint: "fp"}
	res, err := s.Append(ctx, []store.Delivery{{Notification: retry, Recipients: []store.Recipient{{User: "a"}}}})
	if err != nil || res[0] != (store.Result{ID: "v1", Recipients: 2, Duplicate: true}) {
		t.Errorf("retry = %+v, %v; want a duplicate of v1 with 2 recipients", res, err)
	}
}
