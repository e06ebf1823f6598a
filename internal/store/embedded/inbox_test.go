package embedded_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

func listIDs(t *testing.T, s store.Store, user notify.UserID, q store.ListQuery) []string {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	p, err := s.List(t.Context(), user, q)
	if err != nil {
		t.Fatalf("List(%s): %v", user, err)
	}
	var ids []string
	for _, e := range p.Entries {
		ids = append(ids, e.Notification.ID)
	}
	return ids
}

func counts(t *testing.T, s store.Store, user notify.UserID) notify.Counts {
	t.Helper()
	c, err := s.Counts(t.Context(), user)
	if err != nil {
		t.Fatalf("Counts(%s): %v", user, err)
	}
	return c
}

func mark(t *testing.T, s store.Store, user notify.UserID, m store.Mark) (int, notify.Counts) {
	t.Helper()
	n, c, err := s.Mark(t.Context(), user, m)
	if err != nil {
		t.Fatalf("Mark(%s, %+v): %v", user, m, err)
	}
	return n, c
}

// TestInboxExpiry lets a notification expire after it was listed and
// marked: from then on it is neither listed, counted, marked nor read,
// before and after the sweep purges its body.
func TestInboxExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := openT(t, t.TempDir(), embedded.Options{Now: clk.Now})
	short := note("short")
	short.ExpireTime = clk.Now().Add(time.Minute)
	appendOK(t, s, to(note("a"), "uma"), to(short, "uma"), to(note("b"), "uma"))
	if got := fmt.Sprint(listIDs(t, s, "uma", store.ListQuery{})); got != "[b short a]" {
		t.Fatalf("before expiry: %s", got)
	}
	if n, c := mark(t, s, "uma", store.Mark{Action: store.MarkSeen, IDs: []string{"short"}}); n != 1 || c != (notify.Counts{Unread: 3, Unseen: 2}) {
		t.Fatalf("mark before expiry: %d %+v", n, c)
	}
	clk.Advance(time.Minute)
	for _, sweep := range []bool{false, true} {
		if sweep {
			if err := s.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if got := fmt.Sprint(listIDs(t, s, "uma", store.ListQuery{Archived: store.ArchiveInclude})); got != "[b a]" {
			t.Errorf("sweep=%v: listed %s, want [b a]", sweep, got)
		}
		if c := counts(t, s, "uma"); c != (notify.Counts{Unread: 2, Unseen: 2}) {
			t.Errorf("sweep=%v: counts %+v, want {2 2}", sweep, c)
		}
		if got := fmt.Sprint(readIDs(t, s, "uma", 0)); got != "[a b]" {
			t.Errorf("sweep=%v: read %s, want [a b]", sweep, got)
		}
		if n, _ := mark(t, s, "uma", store.Mark{Action: store.MarkArchive, IDs: []string{"short"}}); n != 0 {
			t.Errorf("sweep=%v: marked %d expired entries", sweep, n)
		}
	}
}

// TestCountsExactAfterTrim: trimming by count removes entries without
// reading them, and the counts stay exact because they are counted.
func TestCountsExactAfterTrim(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), embedded.Options{RetentionCount: 5})
	for i := range 8 {
		appendOK(t, s, to(note(fmt.Sprint("t", i)), "vic"))
	}
	if c := counts(t, s, "vic"); c != (notify.Counts{Unread: 5, Unseen: 5}) {
		t.Errorf("counts after trim = %+v, want {5 5}", c)
	}
	if n, c := mark(t, s, "vic", store.Mark{Action: store.MarkRead, UpTo: 8}); n != 5 || c != (notify.Counts{}) {
		t.Errorf("mark all read: %d %+v, want 5 and zero", n, c)
	}
	appendOK(t, s, to(note("t8"), "vic"), to(note("t9"), "vic"))
	if c := counts(t, s, "vic"); c != (notify.Counts{Unread: 2, Unseen: 2}) {
		t.Errorf("counts after two more = %+v, want {2 2}", c)
	}
	if got := fmt.Sprint(listIDs(t, s, "vic", store.ListQuery{UnreadOnly: true})); got != "[t9 t8]" {
		t.Errorf("unread = %s, want [t9 t8]", got)
	}
}

// TestMarkDurable: marks survive a reopen.
func TestMarkDurable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendOK(t, s, to(note("d1"), "wes"), to(note("d2"), "wes"))
	mark(t, s, "wes", store.Mark{Action: store.MarkRead, IDs: []string{"d1"}})
	mark(t, s, "wes", store.Mark{Action: store.MarkArchive, UpTo: 2})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Mark(t.Context(), "wes", store.Mark{Action: store.MarkRead, UpTo: 2}); err == nil {
		t.Error("Mark after Close succeeded")
	}
	s = openT(t, dir, embedded.Options{})
	p, err := s.List(t.Context(), "wes", store.ListQuery{Limit: 10, Archived: store.ArchiveOnly})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2 || !p.Entries[1].Read || p.Entries[0].Read || p.Counts != (notify.Counts{}) {
		t.Errorf("after reopen: %+v", p)
	}
}

// TestOldDataDir opens a data directory written before read state existed
// (v1 entries and idempotency records): its entries list as unread, can be
// marked (and keep their expiry when rewritten), and its keys still
// deduplicate.
func TestOldDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := newClock()
	db, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebble.FormatNewest})
	if err != nil {
		t.Fatal(err)
	}
	appended := clk.Now().Add(-time.Hour).UnixNano()
	expiring := note("old-expiring")
	expiring.ExpireTime = clk.Now().Add(time.Hour)
	for key, value := range map[string][]byte{
		string(embedded.BodyKey("old-plain")):    embedded.EncodeNotification(nil, note("old-plain")),
		string(embedded.BodyKey("old-expiring")): embedded.EncodeNotification(nil, expiring),
		string(embedded.MetaKey("xena")):         embedded.EncodeMeta(2, 0),
		string(embedded.EntryKey("xena", 1)):     embedded.EncodeEntryV1(appended, "old-plain", ""),
		string(embedded.EntryKey("xena", 2)):     embedded.EncodeEntryV1(appended, "old-expiring", "topic/t"),
		string(embedded.IdemKey("svc/old")):      embedded.EncodeIdemV1("old-plain", 1, clk.Now().Add(-time.Minute).UnixNano()),
		string(embedded.MetaKey("yuri")):         embedded.EncodeMeta(1, 0),
		string(embedded.EntryKey("yuri", 1)):     embedded.EncodeEntryV1(appended, "old-expiring", ""),
	} {
		if err := db.Set([]byte(key), value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openT(t, dir, embedded.Options{Now: clk.Now})
	if got := fmt.Sprint(listIDs(t, s, "xena", store.ListQuery{})); got != "[old-expiring old-plain]" {
		t.Fatalf("listed %s", got)
	}
	if c := counts(t, s, "xena"); c != (notify.Counts{Unread: 2, Unseen: 2}) {
		t.Errorf("counts %+v, want {2 2}", c)
	}
	if n, c := mark(t, s, "xena", store.Mark{Action: store.MarkSeen, UpTo: 2}); n != 2 || c != (notify.Counts{Unread: 2}) {
		t.Errorf("mark seen: %d %+v", n, c)
	}
	// Appends go on after the old cursors; the old key is still a duplicate.
	dup := note("new-dup")
	dup.IdempotencyKey = "svc/old"
	if res := appendOK(t, s, to(dup, "xena"), to(note("new"), "xena")); !res[0].Duplicate || res[0].ID != "old-plain" || res[1].Duplicate {
		t.Errorf("results %+v", res)
	}
	if got := fmt.Sprint(readIDs(t, s, "xena", 0)); got != "[old-plain old-expiring new]" {
		t.Errorf("read %s", got)
	}
	// The rewritten v1 entry kept the expiry it learnt from its body; the
	// untouched one (yuri's) still finds it there.
	clk.Advance(2 * time.Hour)
	if c := counts(t, s, "xena"); c != (notify.Counts{Unread: 2, Unseen: 1}) {
		t.Errorf("counts after expiry %+v, want {2 1}", c)
	}
	if got := fmt.Sprint(listIDs(t, s, "xena", store.ListQuery{})); got != "[new old-plain]" {
		t.Errorf("listed after expiry %s", got)
	}
	if c := counts(t, s, "yuri"); c != (notify.Counts{}) {
		t.Errorf("yuri's counts after expiry %+v, want zero", c)
	}
}

func TestEntryStateRoundTrip(t *testing.T) {
	t.Parallel()
	base := embedded.EntryState{Time: 1700000000000000000, ID: "id", Topic: "topic/x"}
	tests := []func(*embedded.EntryState){
		func(*embedded.EntryState) {},
		func(e *embedded.EntryState) { e.Seen = true },
		func(e *embedded.EntryState) { e.Seen, e.Read, e.Archived = true, true, true },
		func(e *embedded.EntryState) { e.Archived, e.Expires, e.Expire = true, true, -5 },
		func(e *embedded.EntryState) { e.Read, e.Expires, e.Expire = true, true, 1<<62 },
	}
	for _, set := range tests {
		st := base
		set(&st)
		b := embedded.EncodeEntryState(st)
		got, err := embedded.DecodeEntryState(b)
		if err != nil || got != st {
			t.Errorf("round trip of %+v = %+v, %v", st, got, err)
		}
	}
	v1, err := embedded.DecodeEntryState(embedded.EncodeEntryV1(5, "id", ""))
	if err != nil || v1 != (embedded.EntryState{Time: 5, ID: "id", V1: true}) {
		t.Errorf("v1 entry decodes as %+v, %v", v1, err)
	}
	bad := embedded.EncodeEntryState(base)
	bad[1] = 0x10 // an unknown flag
	if _, err := embedded.DecodeEntry(bad); err == nil {
		t.Error("an unknown entry flag was accepted")
	}
	if _, err := embedded.DecodeEntry([]byte{3, 0}); err == nil {
		t.Error("an unknown entry version was accepted")
	}
}

func TestIdemRoundTrip(t *testing.T) {
	t.Parallel()
	for _, incomplete := range []bool{false, true} {
		b := embedded.EncodeIdem("n-1", 42, 99, incomplete, "user-7")
		id, n, inc, last, err := embedded.IdemState(b)
		if err != nil || id != "n-1" || n != 42 || inc != incomplete || last != "user-7" {
			t.Errorf("round trip: %s %d %v %s %v", id, n, inc, last, err)
		}
	}
	id, n, inc, last, err := embedded.IdemState(embedded.EncodeIdemV1("n-2", 3, 7))
	if err != nil || id != "n-2" || n != 3 || inc || last != "" {
		t.Errorf("v1 record: %s %d %v %q %v", id, n, inc, last, err)
	}
	bad := embedded.EncodeIdem("n", 1, 1, false, "")
	bad[len(bad)-2] = 7 // an unknown state
	if _, _, _, _, err := embedded.IdemState(bad); err == nil {
		t.Error("an unknown record state was accepted")
	}
}

func FuzzDecodeEntryState(f *testing.F) {
	f.Add(embedded.EncodeEntryState(embedded.EntryState{Time: 1, ID: "id", Topic: "t", Read: true, Expires: true, Expire: 9}))
	f.Add(embedded.EncodeEntryV1(1, "id", "t"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := embedded.DecodeEntryState(b)
		if err != nil || st.V1 {
			return
		}
		// Accepted v2 input is canonical: it re-encodes to itself.
		if again := embedded.EncodeEntryState(st); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
	})
}

// benchInbox opens a store with one user's full inbox (1000 entries, the
// default retention), every tenth notification with an expiry ahead.
func benchInbox(b *testing.B) (*embedded.Store, notify.UserID) {
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	const user = "bench-inbox"
	ds := make([]store.Delivery, 0, embedded.DefaultRetentionCount)
	for i := range embedded.DefaultRetentionCount {
		n := benchNotification(int64(i))
		if i%10 == 0 {
			n.ExpireTime = time.Now().Add(time.Hour)
		}
		ds = append(ds, store.Delivery{Notification: n, Recipients: []store.Recipient{{User: user}}})
	}
	if _, err := s.Append(b.Context(), ds); err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.Mark(b.Context(), user, store.Mark{Action: store.MarkRead, UpTo: 500}); err != nil {
		b.Fatal(err)
	}
	return s, user
}

// BenchmarkCounts counts a full inbox: the cost of counting on demand
// instead of keeping counters.
func BenchmarkCounts(b *testing.B) {
	s, user := benchInbox(b)
	b.ReportAllocs()
	for b.Loop() {
		c, err := s.Counts(b.Context(), user)
		if err != nil || c.Unread != 500 {
			b.Fatalf("Counts = %+v, %v", c, err)
		}
	}
}

// BenchmarkList lists a page of 50 of a full inbox, newest first and from
// the middle, with its counts.
func BenchmarkList(b *testing.B) {
	s, user := benchInbox(b)
	for _, before := range []notify.Cursor{0, 500} {
		b.Run(fmt.Sprint("before=", before), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.List(b.Context(), user, store.ListQuery{Before: before, Limit: 50})
				if err != nil || len(p.Entries) != 50 {
					b.Fatalf("List: %d entries, %v", len(p.Entries), err)
				}
			}
		})
	}
}

// BenchmarkMarkUpTo marks a full inbox read, then unread, so that every
// call rewrites 1000 entries (and commits with fsync); ids=1 marks one
// entry by ID, which scans the inbox to find it.
func BenchmarkMarkUpTo(b *testing.B) {
	s, user := benchInbox(b)
	actions := [2]store.MarkAction{store.MarkRead, store.MarkUnread}
	b.Run("entries=1000", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			n, _, err := s.Mark(b.Context(), user, store.Mark{Action: actions[i%2], UpTo: 1000})
			if err != nil || n == 0 {
				b.Fatalf("Mark: %d, %v", n, err)
			}
		}
	})
	b.Run("ids=1", func(b *testing.B) {
		if _, _, err := s.Mark(b.Context(), user, store.Mark{Action: store.MarkUnread, UpTo: 1000}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			n, _, err := s.Mark(b.Context(), user, store.Mark{Action: actions[i%2], IDs: []string{"bench-999"}})
			if err != nil || n != 1 {
				b.Fatalf("Mark: %d, %v", n, err)
			}
		}
	})
}
