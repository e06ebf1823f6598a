package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// RunInbox runs the contract tests of store.Inbox: listing, read state and
// counts. The backend keeps its default retention (at least 1000 entries
// per user).
func RunInbox(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"ListPagingWhileAppending", testListPaging},
		{"ListNext", testListNext},
		{"ListFilters", testListFilters},
		{"MarkSteps", testMarkSteps},
		{"MarkIsolation", testMarkIsolation},
		{"MarkWhileAppending", testMarkWhileAppending},
		{"ExpiredNeverListedCountedOrMarked", testInboxExpired},
		{"UnknownUser", testInboxUnknownUser},
		{"MarkRejectsUnknownAction", testMarkUnknownAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// RunParts runs the contract tests of deliveries stored in several parts.
func RunParts(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"ThreeParts", testThreeParts},
		{"ResumeAfterCrash", testPartsResume},
		{"WithoutKey", testPartsWithoutKey},
		{"WholeDeliveryOnIncompleteKey", testWholeOnIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func mustList(t *testing.T, s store.Store, user notify.UserID, q store.ListQuery) store.InboxPage {
	t.Helper()
	p, err := s.List(t.Context(), user, q)
	if err != nil {
		t.Fatalf("List(%s, %+v): %v", user, q, err)
	}
	return p
}

func mustCounts(t *testing.T, s store.Store, user notify.UserID) notify.Counts {
	t.Helper()
	c, err := s.Counts(t.Context(), user)
	if err != nil {
		t.Fatalf("Counts(%s): %v", user, err)
	}
	return c
}

func mustMark(t *testing.T, s store.Store, user notify.UserID, m store.Mark) (int, notify.Counts) {
	t.Helper()
	n, c, err := s.Mark(t.Context(), user, m)
	if err != nil {
		t.Fatalf("Mark(%s, %+v): %v", user, m, err)
	}
	return n, c
}

func pageIDs(p store.InboxPage) []string {
	ids := make([]string, 0, len(p.Entries))
	for _, e := range p.Entries {
		ids = append(ids, e.Notification.ID)
	}
	return ids
}

// appendN appends n notifications to user, oldest first, and returns their IDs.
func appendN(t *testing.T, s store.Store, user notify.UserID, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		res := mustAppend(t, s, deliver(newNotification(fmt.Sprint(i)), user))
		ids = append(ids, res[0].ID)
	}
	return ids
}

func testListPaging(t *testing.T, open Open) {
	s := open(t, nil)
	const user, total, limit = "lena", 250, 20
	want := appendN(t, s, user, total)

	// A writer appends throughout the listing, and once more between
	// every two pages; none of it may show up twice or displace an entry.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	appendErr := make(chan error, 1)
	wg.Go(func() {
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Append(t.Context(), []store.Delivery{deliver(newNotification("live"), user)}); err != nil {
				appendErr <- err
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
		select {
		case err := <-appendErr:
			t.Errorf("concurrent Append: %v", err)
		default:
		}
	}()

	seen := map[string]int{}
	var before notify.Cursor
	var prev notify.Cursor
	pages := 0
	for {
		p := mustList(t, s, user, store.ListQuery{Before: before, Limit: limit})
		pages++
		if pages == 1 {
			// Listed and Last come from one view: the newest entry listed
			// is the newest cursor, so streaming from Last misses nothing.
			if len(p.Entries) == 0 || p.Entries[0].Cursor != p.Last {
				t.Fatalf("first page starts at %v, Last = %d: want the same cursor", p.Entries[:min(1, len(p.Entries))], p.Last)
			}
		}
		if len(p.Entries) > limit {
			t.Fatalf("page of %d entries, limit %d", len(p.Entries), limit)
		}
		for _, e := range p.Entries {
			if e.User != user {
				t.Fatalf("entry of %s listed for %s", e.User, user)
			}
			if prev != 0 && e.Cursor >= prev {
				t.Fatalf("cursor %d after %d: not newest first", e.Cursor, prev)
			}
			prev = e.Cursor
			seen[e.Notification.ID]++
		}
		if p.Next == 0 {
			break
		}
		if p.Next != p.Entries[len(p.Entries)-1].Cursor {
			t.Fatalf("Next = %d, want the last entry's cursor %d", p.Next, p.Entries[len(p.Entries)-1].Cursor)
		}
		before = p.Next
		mustAppend(t, s, deliver(newNotification("between"), user))
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("%s listed %d times, want once", id, seen[id])
		}
	}
}

func testListNext(t *testing.T, open Open) {
	s := open(t, nil)
	const user = "milo"
	ids := appendN(t, s, user, 10)
	p1 := mustList(t, s, user, store.ListQuery{Limit: 5})
	if got, want := pageIDs(p1), reversed(ids[5:]); !slices.Equal(got, want) {
		t.Fatalf("page 1 = %v, want %v", got, want)
	}
	if p1.Next != p1.Entries[4].Cursor || p1.Last != p1.Entries[0].Cursor {
		t.Errorf("page 1 Next %d Last %d, want %d and %d", p1.Next, p1.Last, p1.Entries[4].Cursor, p1.Entries[0].Cursor)
	}
	p2 := mustList(t, s, user, store.ListQuery{Before: p1.Next, Limit: 5})
	if got, want := pageIDs(p2), reversed(ids[:5]); !slices.Equal(got, want) {
		t.Fatalf("page 2 = %v, want %v", got, want)
	}
	if p2.Next != 0 {
		t.Errorf("last page Next = %d, want 0", p2.Next)
	}
	if p2.Last != p1.Last {
		t.Errorf("page 2 Last = %d, want %d", p2.Last, p1.Last)
	}
	if c := (notify.Counts{Unread: 10, Unseen: 10}); p1.Counts != c || p2.Counts != c {
		t.Errorf("page counts %+v, %+v, want %+v", p1.Counts, p2.Counts, c)
	}
	for _, e := range append(p1.Entries, p2.Entries...) {
		if e.Seen || e.Read || e.Archived {
			t.Errorf("new entry %d has state seen=%v read=%v archived=%v", e.Cursor, e.Seen, e.Read, e.Archived)
		}
	}
	if p := mustList(t, s, user, store.ListQuery{Limit: 0}); len(p.Entries) != 1 {
		t.Errorf("Limit 0 listed %d entries, want 1", len(p.Entries))
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func testListFilters(t *testing.T, open Open) {
	s := open(t, nil)
	const user = "nora"
	ids := appendN(t, s, user, 6) // 0..5
	mustMark(t, s, user, store.Mark{Action: store.MarkRead, IDs: []string{ids[1], ids[2]}})
	mustMark(t, s, user, store.Mark{Action: store.MarkArchive, IDs: []string{ids[2], ids[3]}})
	tests := []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"default excludes archived", store.ListQuery{}, []string{ids[5], ids[4], ids[1], ids[0]}},
		{"unread", store.ListQuery{UnreadOnly: true}, []string{ids[5], ids[4], ids[0]}},
		{"archived only", store.ListQuery{Archived: store.ArchiveOnly}, []string{ids[3], ids[2]}},
		{"archived and unread", store.ListQuery{Archived: store.ArchiveOnly, UnreadOnly: true}, []string{ids[3]}},
		{"all", store.ListQuery{Archived: store.ArchiveInclude}, reversed(ids)},
		{"all unread", store.ListQuery{Archived: store.ArchiveInclude, UnreadOnly: true}, []string{ids[5], ids[4], ids[3], ids[0]}},
	}
	for _, tt := range tests {
		tt.q.Limit = 100
		p := mustList(t, s, user, tt.q)
		if got := pageIDs(p); !slices.Equal(got, tt.want) {
			t.Errorf("%s: listed %v, want %v", tt.name, got, tt.want)
		}
		for _, e := range p.Entries {
			i := slices.Index(ids, e.Notification.ID)
			if wantRead, wantArch := i == 1 || i == 2, i == 2 || i == 3; e.Read != wantRead || e.Seen != wantRead || e.Archived != wantArch {
				t.Errorf("%s: entry %d seen=%v read=%v archived=%v", tt.name, i, e.Seen, e.Read, e.Archived)
			}
		}
		if p.Next != 0 {
			t.Errorf("%s: Next = %d on the only page", tt.name, p.Next)
		}
	}
	// A filtered page has a next page only if a further entry passes.
	p := mustList(t, s, user, store.ListQuery{UnreadOnly: true, Limit: 2})
	if got := pageIDs(p); !slices.Equal(got, []string{ids[5], ids[4]}) || p.Next != p.Entries[1].Cursor {
		t.Fatalf("unread page 1 = %v Next %d", got, p.Next)
	}
	p = mustList(t, s, user, store.ListQuery{UnreadOnly: true, Limit: 2, Before: p.Next})
	if got := pageIDs(p); !slices.Equal(got, []string{ids[0]}) || p.Next != 0 {
		t.Errorf("unread page 2 = %v Next %d, want [%s] and 0", got, p.Next, ids[0])
	}
}

func testMarkSteps(t *testing.T, open Open) {
	s := open(t, nil)
	const user = "olaf"
	ids := appendN(t, s, user, 5)
	cursors := map[string]notify.Cursor{}
	for _, e := range mustList(t, s, user, store.ListQuery{Limit: 10}).Entries {
		cursors[e.Notification.ID] = e.Cursor
	}
	steps := []struct {
		name    string
		m       store.Mark
		changed int
		want    notify.Counts
	}{
		{"seen two by ID", store.Mark{Action: store.MarkSeen, IDs: []string{ids[0], ids[1]}}, 2, notify.Counts{Unread: 5, Unseen: 3}},
		{"seen again", store.Mark{Action: store.MarkSeen, IDs: []string{ids[0]}}, 0, notify.Counts{Unread: 5, Unseen: 3}},
		{"read implies seen", store.Mark{Action: store.MarkRead, IDs: []string{ids[2]}}, 1, notify.Counts{Unread: 4, Unseen: 2}},
		{"read up to the 4th", store.Mark{Action: store.MarkRead, UpTo: cursors[ids[3]]}, 3, notify.Counts{Unread: 1, Unseen: 1}},
		{"unread keeps seen", store.Mark{Action: store.MarkUnread, IDs: []string{ids[0], ids[3]}}, 2, notify.Counts{Unread: 3, Unseen: 1}},
		{"archive", store.Mark{Action: store.MarkArchive, IDs: []string{ids[0], ids[4]}}, 2, notify.Counts{Unread: 1, Unseen: 0}},
		{"read everything", store.Mark{Action: store.MarkRead, UpTo: 1 << 40}, 3, notify.Counts{Unread: 0, Unseen: 0}},
		{"unarchive", store.Mark{Action: store.MarkUnarchive, UpTo: cursors[ids[4]]}, 2, notify.Counts{Unread: 0, Unseen: 0}},
		{"unknown IDs", store.Mark{Action: store.MarkUnread, IDs: []string{"no-such-id"}}, 0, notify.Counts{Unread: 0, Unseen: 0}},
		{"unread up to the 2nd", store.Mark{Action: store.MarkUnread, UpTo: cursors[ids[1]]}, 2, notify.Counts{Unread: 2, Unseen: 0}},
	}
	for _, st := range steps {
		changed, counts := mustMark(t, s, user, st.m)
		if changed != st.changed || counts != st.want {
			t.Errorf("%s: changed %d counts %+v, want %d %+v", st.name, changed, counts, st.changed, st.want)
		}
		if got := mustCounts(t, s, user); got != st.want {
			t.Errorf("%s: Counts = %+v, want %+v", st.name, got, st.want)
		}
		if got := mustList(t, s, user, store.ListQuery{Limit: 1}).Counts; got != st.want {
			t.Errorf("%s: List counts = %+v, want %+v", st.name, got, st.want)
		}
	}
	// The final state, entry by entry.
	p := mustList(t, s, user, store.ListQuery{Limit: 10, Archived: store.ArchiveInclude})
	want := map[string][3]bool{ // seen, read, archived
		ids[0]: {true, false, false}, ids[1]: {true, false, false}, ids[2]: {true, true, false},
		ids[3]: {true, true, false}, ids[4]: {true, true, false},
	}
	for _, e := range p.Entries {
		if got := [3]bool{e.Seen, e.Read, e.Archived}; got != want[e.Notification.ID] {
			t.Errorf("%s: state %v, want %v", e.Notification.ID, got, want[e.Notification.ID])
		}
	}
}

func testMarkIsolation(t *testing.T, open Open) {
	s := open(t, nil)
	shared := newNotification("shared")
	mustAppend(t, s, deliver(shared, "alma", "bert"))
	bertOnly := appendN(t, s, "bert", 3)
	almaOnly := appendN(t, s, "alma", 2)

	// alma names bert's notifications, and the one they share.
	changed, counts := mustMark(t, s, "alma", store.Mark{Action: store.MarkRead, IDs: append(slices.Clone(bertOnly), shared.ID)})
	if changed != 1 || counts != (notify.Counts{Unread: 2, Unseen: 2}) {
		t.Errorf("alma marked %d, counts %+v; want 1 and {2 2}", changed, counts)
	}
	// Everything up to a cursor beyond anything bert has.
	changed, _ = mustMark(t, s, "alma", store.Mark{Action: store.MarkArchive, UpTo: 1 << 40})
	if changed != 3 {
		t.Errorf("alma archived %d, want 3", changed)
	}
	if got := mustCounts(t, s, "bert"); got != (notify.Counts{Unread: 4, Unseen: 4}) {
		t.Errorf("bert's counts = %+v after alma's marks, want {4 4}", got)
	}
	p := mustList(t, s, "bert", store.ListQuery{Limit: 10, Archived: store.ArchiveInclude})
	if len(p.Entries) != 4 {
		t.Fatalf("bert lists %d entries, want 4", len(p.Entries))
	}
	for _, e := range p.Entries {
		if e.Seen || e.Read || e.Archived || e.User != "bert" {
			t.Errorf("bert's entry %s: user %s seen=%v read=%v archived=%v", e.Notification.ID, e.User, e.Seen, e.Read, e.Archived)
		}
	}
	p = mustList(t, s, "alma", store.ListQuery{Limit: 10, Archived: store.ArchiveInclude})
	if got, want := pageIDs(p), []string{almaOnly[1], almaOnly[0], shared.ID}; !slices.Equal(got, want) {
		t.Errorf("alma lists %v, want %v", got, want)
	}
	// bert's marks leave alma alone in turn.
	mustMark(t, s, "bert", store.Mark{Action: store.MarkUnarchive, IDs: []string{shared.ID}})
	if got := mustList(t, s, "alma", store.ListQuery{Limit: 10}); len(got.Entries) != 0 {
		t.Errorf("alma's archived entries came back: %v", pageIDs(got))
	}
}

func testMarkWhileAppending(t *testing.T, open Open) {
	s := open(t, nil)
	const user = "pia"
	appendN(t, s, user, 50)
	upTo := mustLast(t, s, user)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Go(func() {
		for range 50 {
			if _, err := s.Append(t.Context(), []store.Delivery{deliver(newNotification("more"), user)}); err != nil {
				errs <- err
				return
			}
		}
	})
	changed, _ := mustMark(t, s, user, store.Mark{Action: store.MarkRead, UpTo: upTo})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	if changed != 50 {
		t.Errorf("marked %d, want 50", changed)
	}
	if got := mustCounts(t, s, user); got != (notify.Counts{Unread: 50, Unseen: 50}) {
		t.Errorf("Counts = %+v, want the 50 later entries unread and unseen", got)
	}
	for _, e := range mustList(t, s, user, store.ListQuery{Limit: 200}).Entries {
		if e.Read != (e.Cursor <= upTo) {
			t.Errorf("entry %d read=%v, marked up to %d", e.Cursor, e.Read, upTo)
		}
	}
}

func testInboxExpired(t *testing.T, open Open) {
	s := open(t, nil)
	const user = "quin"
	live := newNotification("live")
	gone := newNotification("gone")
	gone.ExpireTime = time.Now().Add(-time.Minute)
	later := newNotification("later")
	later.ExpireTime = time.Now().Add(time.Hour)
	mustAppend(t, s, deliver(live, user), deliver(gone, user), deliver(later, user))
	p := mustList(t, s, user, store.ListQuery{Limit: 10, Archived: store.ArchiveInclude})
	if got, want := pageIDs(p), []string{later.ID, live.ID}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	if p.Last != 3 {
		t.Errorf("Last = %d, want 3 (expired entries included)", p.Last)
	}
	want := notify.Counts{Unread: 2, Unseen: 2}
	if p.Counts != want || mustCounts(t, s, user) != want {
		t.Errorf("counts %+v / %+v, want %+v", p.Counts, mustCounts(t, s, user), want)
	}
	if n, _ := mustMark(t, s, user, store.Mark{Action: store.MarkRead, IDs: []string{gone.ID}}); n != 0 {
		t.Errorf("marking an expired notification changed %d entries", n)
	}
	if n, c := mustMark(t, s, user, store.Mark{Action: store.MarkRead, UpTo: 3}); n != 2 || c != (notify.Counts{}) {
		t.Errorf("mark up to 3: changed %d, counts %+v; want 2 and zero", n, c)
	}
	// Below the newest: an expired entry, then the last live one.
	if p := mustList(t, s, user, store.ListQuery{Before: 3, Limit: 1}); !slices.Equal(pageIDs(p), []string{live.ID}) || p.Next != 0 {
		t.Errorf("page below 3 = %v Next %d, want [%s] and 0", pageIDs(p), p.Next, live.ID)
	}
	for _, e := range mustRead(t, s, user, 0, 10) {
		if e.Notification.ID == gone.ID {
			t.Error("Read returned the expired notification")
		}
	}
}

func testInboxUnknownUser(t *testing.T, open Open) {
	s := open(t, nil)
	mustAppend(t, s, deliver(newNotification("x"), "someone"))
	p := mustList(t, s, "nobody", store.ListQuery{Limit: 10})
	if len(p.Entries) != 0 || p.Next != 0 || p.Last != 0 || p.Counts != (notify.Counts{}) {
		t.Errorf("List of an unknown user = %+v", p)
	}
	if n, c := mustMark(t, s, "nobody", store.Mark{Action: store.MarkRead, UpTo: 1 << 40}); n != 0 || c != (notify.Counts{}) {
		t.Errorf("Mark of an unknown user: %d %+v", n, c)
	}
	if c := mustCounts(t, s, "someone"); c != (notify.Counts{Unread: 1, Unseen: 1}) {
		t.Errorf("someone's counts = %+v", c)
	}
}

func testMarkUnknownAction(t *testing.T, open Open) {
	s := open(t, nil)
	mustAppend(t, s, deliver(newNotification("x"), "rosa"))
	for _, a := range []store.MarkAction{0, store.MarkUnarchive + 1} {
		if _, _, err := s.Mark(t.Context(), "rosa", store.Mark{Action: a, UpTo: 1}); err == nil {
			t.Errorf("Mark with action %d succeeded", a)
		}
	}
}

// partOf builds part seq of a fan-out of n to users.
func partOf(n *notify.Notification, seq int, final bool, users ...notify.UserID) store.Delivery {
	d := deliver(n, users...)
	d.Part = store.Part{Multi: true, Seq: seq, Final: final}
	return d
}

func usersN(prefix string, from, to int) []notify.UserID {
	var us []notify.UserID
	for i := from; i < to; i++ {
		us = append(us, notify.UserID(fmt.Sprintf("%s-%02d", prefix, i)))
	}
	return us
}

func checkOneEntry(t *testing.T, s store.Store, users []notify.UserID, id string) {
	t.Helper()
	for _, u := range users {
		es := mustRead(t, s, u, 0, 10)
		if len(es) != 1 || es[0].Notification.ID != id {
			var got []string
			for _, e := range es {
				got = append(got, e.Notification.ID)
			}
			t.Errorf("%s has %v, want exactly [%s]", u, got, id)
		}
	}
}

func testThreeParts(t *testing.T, open Open) {
	rec := &recorder{}
	s := open(t, rec.hook)
	n := withKey(newNotification("big"), "svc/big")
	n.Category = "news"
	users := usersN("tp", 0, 9)
	for i := range 3 {
		d := partOf(n, i, i == 2, users[i*3:i*3+3]...)
		d.Recipients[0].Topic = "topic/big"
		res := mustAppend(t, s, d)[0]
		if res.ID != n.ID || res.Recipients != 3 || res.Duplicate || res.Incomplete {
			t.Errorf("part %d = %+v, want ID %s and 3 recipients", i, res, n.ID)
		}
	}
	checkOneEntry(t, s, users, n.ID)
	if es := mustRead(t, s, users[3], 0, 1); es[0].Topic != "topic/big" || es[0].Notification.Category != "news" {
		t.Errorf("part 1's first entry: topic %q category %q", es[0].Topic, es[0].Notification.Category)
	}
	if got := len(rec.byUser()); got != 9 {
		t.Errorf("hook saw %d users, want 9", got)
	}
	retry := mustAppend(t, s, partOf(withKey(newNotification("big-retry"), "svc/big"), 0, false, users[:3]...))[0]
	if !retry.Duplicate || retry.Incomplete || retry.ID != n.ID || retry.Recipients != 9 {
		t.Errorf("retry after the final part = %+v, want a duplicate of %s with 9 recipients", retry, n.ID)
	}
	whole := mustAppend(t, s, deliver(withKey(newNotification("big-whole"), "svc/big"), users[0]))[0]
	if !whole.Duplicate || whole.ID != n.ID {
		t.Errorf("whole retry = %+v, want a duplicate of %s", whole, n.ID)
	}
	checkOneEntry(t, s, users, n.ID)
}

func testPartsResume(t *testing.T, open Open) {
	s := open(t, nil)
	first := withKey(newNotification("crashy"), "svc/crashy")
	users := usersN("cr", 0, 9)
	mustAppend(t, s, partOf(first, 0, false, users[0:3]...))
	mustAppend(t, s, partOf(first, 1, false, users[3:6]...))
	// The sender crashed; its retry starts over under a new ID.
	again := withKey(newNotification("crashy-again"), "svc/crashy")
	res := mustAppend(t, s, partOf(again, 0, false, users[0:3]...))[0]
	want := store.Result{ID: first.ID, Recipients: 6, Incomplete: true, ResumeAfter: users[5]}
	if res != want {
		t.Fatalf("retry's first part = %+v, want %+v", res, want)
	}
	checkOneEntry(t, s, users[:6], first.ID) // the retry stored nothing
	for _, u := range users[6:] {
		if es := mustRead(t, s, u, 0, 10); len(es) != 0 {
			t.Errorf("%s has entries before the resume", u)
		}
	}
	// A second crash before the final part: still incomplete, further on.
	resume := withKey(newNotification("crashy"), "svc/crashy")
	resume.ID = first.ID
	mustAppend(t, s, partOf(resume, 1, false, users[6:7]...))
	res = mustAppend(t, s, partOf(again, 0, false, users[0:3]...))[0]
	if want := (store.Result{ID: first.ID, Recipients: 7, Incomplete: true, ResumeAfter: users[6]}); res != want {
		t.Fatalf("second retry = %+v, want %+v", res, want)
	}
	if r := mustAppend(t, s, partOf(resume, 2, true, users[7:]...))[0]; r.ID != first.ID || r.Recipients != 2 {
		t.Errorf("final part = %+v", r)
	}
	checkOneEntry(t, s, users, first.ID)
	res = mustAppend(t, s, partOf(again, 0, false, users[0:3]...))[0]
	if want := (store.Result{ID: first.ID, Recipients: 9, Duplicate: true}); res != want {
		t.Errorf("retry after the final part = %+v, want %+v", res, want)
	}
	checkOneEntry(t, s, users, first.ID)
}

func testPartsWithoutKey(t *testing.T, open Open) {
	s := open(t, nil)
	n := newNotification("nokey")
	users := usersN("nk", 0, 6)
	for i := range 3 {
		res := mustAppend(t, s, partOf(n, i, i == 2, users[i*2:i*2+2]...))[0]
		if res.ID != n.ID || res.Recipients != 2 || res.Duplicate || res.Incomplete {
			t.Errorf("part %d = %+v", i, res)
		}
	}
	checkOneEntry(t, s, users, n.ID)
	// A keyless first part again is not a duplicate: no record remembers it.
	if res := mustAppend(t, s, partOf(n, 0, false, "nk-extra"))[0]; res.Duplicate || res.Incomplete {
		t.Errorf("keyless first part again = %+v", res)
	}
}

// testWholeOnIncomplete: a retry whose audience now fits one part comes
// as a whole delivery, and must resume the fan-out too.
func testWholeOnIncomplete(t *testing.T, open Open) {
	s := open(t, nil)
	n := withKey(newNotification("half"), "svc/half")
	mustAppend(t, s, partOf(n, 0, false, "wh-a", "wh-b"))
	res := mustAppend(t, s, deliver(withKey(newNotification("whole"), "svc/half"), "wh-a", "wh-c"))[0]
	if want := (store.Result{ID: n.ID, Recipients: 2, Incomplete: true, ResumeAfter: "wh-b"}); res != want {
		t.Errorf("whole delivery on an incomplete key = %+v, want %+v", res, want)
	}
	checkOneEntry(t, s, []notify.UserID{"wh-a", "wh-b"}, n.ID)
	if es := mustRead(t, s, "wh-c", 0, 10); len(es) != 0 {
		t.Errorf("wh-c has %d entries, want none", len(es))
	}
}
