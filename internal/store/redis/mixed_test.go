package redisstore

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// inboxView is everything a client can see of one inbox.
type inboxView struct {
	Last   notify.Cursor
	Counts notify.Counts
	Page   []store.InboxEntry
	Read   []notify.Entry
}

func viewOf(t *testing.T, s *Store, user notify.UserID) inboxView {
	t.Helper()
	ctx := t.Context()
	var v inboxView
	var err error
	if v.Last, err = s.Last(ctx, user); err != nil {
		t.Fatalf("Last: %v", err)
	}
	if v.Counts, err = s.Counts(ctx, user); err != nil {
		t.Fatalf("Counts: %v", err)
	}
	p, err := s.List(ctx, user, store.ListQuery{Limit: 1000, Archived: store.ArchiveFilter(2)})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if p.Last != v.Last || p.Counts != v.Counts {
		t.Fatalf("List: last %d counts %+v, want %d %+v", p.Last, p.Counts, v.Last, v.Counts)
	}
	v.Page = p.Entries
	after := v.Last
	if len(p.Entries) > 0 {
		after = p.Entries[len(p.Entries)-1].Cursor - 1
	}
	if v.Read, err = s.Read(ctx, user, after, 1000); err != nil {
		t.Fatalf("Read after %d: %v", after, err)
	}
	return v
}

func appendIDs(t *testing.T, s *Store, user notify.UserID, clk *testClock, ids ...string) {
	t.Helper()
	for _, id := range ids {
		n := &notify.Notification{ID: id, Title: "t " + id, CreateTime: clk.Now()}
		if id[len(id)-1] == 'x' {
			n.ExpireTime = clk.Now().Add(10 * time.Minute)
		}
		if _, err := s.Append(t.Context(), []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: user}}}}); err != nil {
			t.Fatalf("Append %s: %v", id, err)
		}
	}
}

func mark(t *testing.T, s *Store, user notify.UserID, m store.Mark) {
	t.Helper()
	if _, _, err := s.Mark(t.Context(), user, m); err != nil {
		t.Fatalf("Mark %+v: %v", m, err)
	}
}

// TestLayoutSwitch: an inbox written in one layout reads the same through
// a store of the other, which appends to it (a v2 store converting a v1
// inbox, a v1 store keeping a v2 inbox in v2) with its marks, counts,
// retention, expiries and duplicates exact across the switch.
func TestLayoutSwitch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ from, to Layout }{{LayoutV1, LayoutV2}, {LayoutV2, LayoutV1}, {LayoutV2, LayoutV2}} {
		t.Run(fmt.Sprintf("%s_to_%s", tc.from, tc.to), func(t *testing.T) {
			t.Parallel()
			layoutSwitch(t, tc.from, tc.to)
		})
	}
}

// layoutSwitch writes an inbox with a store in layout from, then with one
// in layout to and both, and checks that both read the same, with exact
// counts.
func layoutSwitch(t *testing.T, from, to Layout) {
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	const keep = 20
	w := OpenTest(t, Options{Layout: from, RetentionCount: keep, RetentionAge: time.Hour, Now: clk.Now})
	o := Reopen(t, w, to)
	const user = "switch"
	var ids []string
	for i := range 30 {
		id := fmt.Sprintf("a%d", i)
		if i%7 == 3 {
			id += "x"
		}
		ids = append(ids, id)
	}
	appendIDs(t, w, user, clk, ids...)
	mark(t, w, user, store.Mark{Action: store.MarkRead, IDs: []string{ids[12], ids[20], ids[29]}})
	mark(t, w, user, store.Mark{Action: store.MarkSeen, UpTo: 22})
	mark(t, w, user, store.Mark{Action: store.MarkArchive, IDs: []string{ids[25]}})
	before := viewOf(t, w, user)
	if got := viewOf(t, o, user); !reflect.DeepEqual(got, before) {
		t.Fatalf("%s store reads %+v\nwant %+v", to, got, before)
	}
	if want := recount(t, w, user); before.Counts != want {
		t.Fatalf("counts %+v, recount %+v", before.Counts, want)
	}

	// The other store appends a retained ID (stored once) and new ones.
	appendIDs(t, o, user, clk, ids[29], "b0", "b1x", "b2")
	v := viewOf(t, o, user)
	if want := recount(t, o, user); v.Counts != want {
		t.Fatalf("counts %+v after the switch, recount %+v", v.Counts, want)
	}
	if v.Last != before.Last+3 {
		t.Fatalf("last %d after 3 new entries and a duplicate, want %d", v.Last, before.Last+3)
	}
	if got := viewOf(t, w, user); !reflect.DeepEqual(got, v) {
		t.Fatalf("after the switch, %s store reads %+v\nwant %+v", from, got, v)
	}
	mark(t, o, user, store.Mark{Action: store.MarkRead, UpTo: v.Last - 1})
	mark(t, o, user, store.Mark{Action: store.MarkUnread, IDs: []string{ids[28], "b0"}})
	if got, want := viewOf(t, o, user).Counts, recount(t, o, user); got != want {
		t.Fatalf("counts %+v, recount %+v", got, want)
	}
	// Expiries due, then retention by count across both writers.
	clk.Advance(11 * time.Minute)
	appendIDs(t, w, user, clk, "c0", "c1")
	for i := range 25 {
		appendIDs(t, o, user, clk, fmt.Sprintf("d%d", i))
	}
	v = viewOf(t, o, user)
	if got := viewOf(t, w, user); !reflect.DeepEqual(got, v) {
		t.Fatalf("%s store reads %+v\nwant %+v", from, got, v)
	}
	if got, want := v.Counts, recount(t, o, user); got != want {
		t.Fatalf("counts %+v, recount %+v", got, want)
	}
	if len(v.Page) != keep {
		t.Fatalf("%d entries listed, want %d", len(v.Page), keep)
	}
	// The inbox ends in v2 when a v2 store wrote to it.
	k := w.userKeys(user)
	n, err := w.rdb.Exists(t.Context(), k.state, k.ids).Result()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := w.rdb.HExists(t.Context(), k.meta, "b").Result(); (from == LayoutV2 || to == LayoutV2) != (b && n == 0) {
		t.Fatalf("v2 mark %v, %d v1 keys: from %s to %s", b, n, from, to)
	}
}

// TestV1CreatesV1: a v1 store creates inboxes in v1, which former nodes
// read, during the first step of a rollout.
func TestV1CreatesV1(t *testing.T) {
	t.Parallel()
	s := OpenTest(t, Options{Layout: LayoutV1})
	clk := &testClock{t: time.Now()}
	appendIDs(t, s, "one", clk, "n1")
	k := s.userKeys("one")
	if n := s.rdb.Exists(t.Context(), k.state, k.ids).Val(); n != 2 {
		t.Fatalf("%d of the v1 state and ID keys exist, want 2", n)
	}
	if s.rdb.HExists(t.Context(), k.meta, "b").Val() {
		t.Fatal("a v1 inbox has the v2 bound")
	}
}

// TestV2KeysExpired: once a v2 inbox's keys expired whole, the inbox is
// empty and its cursors go on above every cursor given out, in either
// mode.
func TestV2KeysExpired(t *testing.T) {
	t.Parallel()
	for _, l := range []Layout{LayoutV1, LayoutV2} {
		t.Run(string(l), func(t *testing.T) {
			t.Parallel()
			clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			s := OpenTest(t, Options{RetentionCount: 10, RetentionAge: time.Hour, Now: clk.Now})
			o := Reopen(t, s, l)
			const user = "gone"
			appendIDs(t, s, user, clk, "n1", "n2x", "n3")
			k := s.userKeys(user)
			// As the keys' TTL would.
			if err := s.rdb.Del(t.Context(), k.entries, k.expiring).Err(); err != nil {
				t.Fatal(err)
			}
			v := viewOf(t, o, user)
			if v.Last < 3 || len(v.Page) != 0 || v.Counts != (notify.Counts{}) {
				t.Fatalf("after the keys expired: %+v, want last ≥ 3 and nothing else", v)
			}
			if _, err := o.Read(t.Context(), user, 3, 10); err == nil && v.Last > 3 {
				t.Fatalf("Read after 3, below the bound %d: no error", v.Last)
			}
			appendIDs(t, o, user, clk, "n1", "n4")
			w := viewOf(t, s, user)
			if w.Last != v.Last+2 || len(w.Page) != 2 || w.Counts != (notify.Counts{Unread: 2, Unseen: 2}) {
				t.Fatalf("after two appends: %+v, want last %d and two unread entries", w, v.Last+2)
			}
		})
	}
}

// TestV2Housekeeping: a v2 inbox's entries hash has the keys' TTL, and
// trims in batches keep it within the retention count and the slack, ID
// fields included.
func TestV2Housekeeping(t *testing.T) {
	t.Parallel()
	const keep, age = 16, time.Hour
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{RetentionCount: keep, RetentionAge: age, Now: clk.Now})
	const user = "kept"
	k := s.userKeys(user)
	for i := range 200 {
		appendIDs(t, s, user, clk, fmt.Sprintf("n%d", i))
		if ttl := s.rdb.PTTL(t.Context(), k.entries).Val(); ttl <= age || ttl > keyTTL(age)+time.Millisecond {
			t.Fatalf("append %d: TTL %v, want within (%v, %v]", i, ttl, age, keyTTL(age))
		}
		// Per entry a body, a state and an ID field; ten fields of the inbox.
		if n, max := hlen(t, s, k.entries), 3*(keep+trimSlack(keep))+10; n > max {
			t.Fatalf("append %d: %d fields, want at most %d", i, n, max)
		}
		clk.Advance(age / 40)
	}
	if n := s.rdb.Exists(t.Context(), k.state, k.ids).Val(); n != 0 {
		t.Fatalf("%d v1 keys in a v2 inbox", n)
	}
}
