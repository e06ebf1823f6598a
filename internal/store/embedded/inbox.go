package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Inbox state lives in the entries' flags; counts are not stored but
// counted by scanning the user's entries, which retention bounds (1000 by
// default). See the package documentation for why.

// List implements store.Inbox. The page, Last and Counts come from one
// iterator, a consistent view of the user's meta record and entries.
func (s *Store) List(ctx context.Context, user notify.UserID, q store.ListQuery) (store.InboxPage, error) {
	if err := ctx.Err(); err != nil {
		return store.InboxPage{}, fmt.Errorf("store: list %s: %w", user, err)
	}
	release, err := s.hold()
	if err != nil {
		return store.InboxPage{}, fmt.Errorf("store: list %s: %w", user, err)
	}
	defer release()
	limit := max(q.Limit, 1)
	it, err := s.userIter(ctx, user)
	if err != nil {
		return store.InboxPage{}, fmt.Errorf("store: list %s: %w", user, err)
	}
	defer it.Close()
	m, err := metaAt(it, user)
	if err != nil {
		return store.InboxPage{}, fmt.Errorf("store: list %s: %w", user, err)
	}
	visible := s.visibleLast(user, m.last)
	page := store.InboxPage{Last: visible, Entries: make([]store.InboxEntry, 0, min(limit, 64))}
	now := s.opts.Now()
	more := false
	// One pass over every entry: the counts need them all anyway, and it
	// tells whether a further page exists.
	err = s.scanDesc(it, user, func(c notify.Cursor, e entryView) error {
		if c > visible {
			return nil // its WAL sync is under way
		}
		live, _, err := s.liveEntry(e, now)
		if err != nil || !live {
			return err
		}
		countEntry(&page.Counts, e.flags)
		if (q.Before != 0 && c >= q.Before) || !listed(q, e.flags) || more {
			return nil
		}
		if len(page.Entries) == limit {
			more = true
			return nil
		}
		n, err := s.notification(string(e.id))
		if err != nil {
			return err
		}
		if n == nil || n.Expired(now) {
			return nil // the body was purged
		}
		page.Entries = append(page.Entries, store.InboxEntry{
			Entry:    notify.Entry{User: user, Cursor: c, Topic: notify.Topic(e.topic), Notification: n},
			Seen:     e.flags&flagSeen != 0,
			Read:     e.flags&flagRead != 0,
			Archived: e.flags&flagArchived != 0,
		})
		return nil
	})
	if err != nil {
		return store.InboxPage{}, fmt.Errorf("store: list %s: %w", user, err)
	}
	if more {
		page.Next = page.Entries[len(page.Entries)-1].Cursor
	}
	return page, nil
}

// Counts implements store.Inbox.
func (s *Store) Counts(ctx context.Context, user notify.UserID) (notify.Counts, error) {
	if err := ctx.Err(); err != nil {
		return notify.Counts{}, fmt.Errorf("store: counts %s: %w", user, err)
	}
	release, err := s.hold()
	if err != nil {
		return notify.Counts{}, fmt.Errorf("store: counts %s: %w", user, err)
	}
	defer release()
	it, err := s.userIter(ctx, user)
	if err != nil {
		return notify.Counts{}, fmt.Errorf("store: counts %s: %w", user, err)
	}
	defer it.Close()
	var counts notify.Counts
	now := s.opts.Now()
	visible, pending := s.bounds.bound(user)
	err = s.scanAsc(it, user, func(c notify.Cursor, e entryView) error {
		if pending && c > visible {
			return nil // its WAL sync is under way
		}
		live, _, err := s.liveEntry(e, now)
		if live {
			countEntry(&counts, e.flags)
		}
		return err
	})
	if err != nil {
		return notify.Counts{}, fmt.Errorf("store: counts %s: %w", user, err)
	}
	return counts, nil
}

// Mark implements store.Inbox. The writer goroutine applies it, so that it
// is serialized with the appends and retention of the same user, and it is
// durable (fsync) when Mark returns.
func (s *Store) Mark(ctx context.Context, user notify.UserID, m store.Mark) (int, notify.Counts, error) {
	if m.Action < store.MarkSeen || m.Action > store.MarkUnarchive {
		return 0, notify.Counts{}, fmt.Errorf("store: mark %s: unknown action %d", user, m.Action)
	}
	if err := ctx.Err(); err != nil {
		return 0, notify.Counts{}, fmt.Errorf("store: mark %s: %w", user, err)
	}
	rep := s.do(ctx, "mark", &request{mark: &markRequest{user: user, mark: m}})
	return rep.changed, rep.counts, rep.err
}

// markOne applies a mark request in the writer goroutine, in a commit of
// its own.
func (w *writer) markOne(r *request) {
	if !r.state.CompareAndSwap(stateQueued, stateTaken) {
		return // abandoned by its caller
	}
	// A mark sees, and its answer follows, every append before it.
	w.sync.drain()
	if err := w.s.brokenErr(); err != nil {
		r.reply <- reply{err: fmt.Errorf("store: mark: %w: %w", notify.ErrUnavailable, err)}
		return
	}
	changed, counts, err := w.mark(r.mark.user, r.mark.mark)
	if err != nil {
		w.s.opts.Logger.Error("store: mark failed", "user_id", r.mark.user, "err", err)
		r.reply <- reply{err: fmt.Errorf("store: mark %s: %w: %w", r.mark.user, notify.ErrUnavailable, err)}
		return
	}
	r.reply <- reply{changed: changed, counts: counts}
}

// mark rewrites the flags of the selected entries that change, and counts
// all entries as they are after it. Selecting by ID scans the user's
// entries: retention bounds them (1000 by default), and an index from
// notification ID to cursor would cost a write per entry on the append
// path for the benefit of marks only.
func (w *writer) mark(user notify.UserID, m store.Mark) (int, notify.Counts, error) {
	s := w.s
	var ids map[string]bool
	if len(m.IDs) > 0 {
		ids = make(map[string]bool, len(m.IDs))
		for _, id := range m.IDs {
			ids[id] = true
		}
	}
	it, err := s.userIter(context.Background(), user)
	if err != nil {
		return 0, notify.Counts{}, err
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	now := s.opts.Now()
	var (
		counts  notify.Counts
		changed int
	)
	err = s.scanAsc(it, user, func(c notify.Cursor, v entryView) error {
		live, n, err := s.liveEntry(v, now)
		if err != nil || !live {
			return err // an expired entry is neither marked nor counted
		}
		selected := ids[string(v.id)]
		if ids == nil {
			selected = c <= m.UpTo
		}
		flags := v.flags
		if selected {
			if flags = applyMark(v.flags, m.Action); flags != v.flags {
				e := v.value()
				e.flags = flags
				if e.v1 {
					// Rewritten as v2, the entry carries its expiry from
					// now on (n is its body: v1 entries need it to be live).
					e.v1 = false
					if !n.ExpireTime.IsZero() {
						e.flags, e.expire = e.flags|flagExpires, unixNanos(n.ExpireTime)
					}
				}
				w.key = entryKey(w.key[:0], user, c)
				w.buf = encodeEntry(w.buf[:0], e)
				if err := b.Set(w.key, w.buf, nil); err != nil {
					return err
				}
				changed++
			}
		}
		countEntry(&counts, flags)
		return nil
	})
	if err != nil {
		return 0, notify.Counts{}, err
	}
	if changed > 0 {
		if err := s.commitBatch(b, pebble.Sync); err != nil {
			return 0, notify.Counts{}, err
		}
	}
	return changed, counts, nil
}

// applyMark returns flags after action. Read implies seen; unread clears
// read only.
func applyMark(flags byte, action store.MarkAction) byte {
	switch action {
	case store.MarkSeen:
		flags |= flagSeen
	case store.MarkRead:
		flags |= flagRead | flagSeen
	case store.MarkUnread:
		flags &^= flagRead
	case store.MarkArchive:
		flags |= flagArchived
	case store.MarkUnarchive:
		flags &^= flagArchived
	}
	return flags
}

// countEntry adds a live entry to counts; archived entries count in
// neither.
func countEntry(c *notify.Counts, flags byte) {
	if flags&flagArchived != 0 {
		return
	}
	if flags&flagRead == 0 {
		c.Unread++
	}
	if flags&flagSeen == 0 {
		c.Unseen++
	}
}

// listed reports whether an entry with flags passes q's filters.
func listed(q store.ListQuery, flags byte) bool {
	archived := flags&flagArchived != 0
	switch q.Archived {
	case store.ArchiveExclude:
		if archived {
			return false
		}
	case store.ArchiveOnly:
		if !archived {
			return false
		}
	}
	return !q.UnreadOnly || flags&flagRead == 0
}

// liveEntry reports whether e's notification has not expired at now. A v2
// entry knows its expiry; a v1 entry needs its body, which it returns (nil
// when purged, which only expiry does before the entry is gone).
func (s *Store) liveEntry(e entryView, now time.Time) (bool, *notify.Notification, error) {
	if expired, known := e.expired(now); known {
		return !expired, nil, nil
	}
	n, err := s.notification(string(e.id))
	if err != nil {
		return false, nil, err
	}
	return n != nil && !n.Expired(now), n, nil
}

// userIter opens an iterator over user's meta record and entries.
func (s *Store) userIter(ctx context.Context, user notify.UserID) (*pebble.Iterator, error) {
	return s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: metaKey(nil, user),
		UpperBound: userEnd(nil, user),
	})
}

// scanDesc calls fn for each of user's entries, newest first, through it
// (from userIter). The view is valid during the call only. fn's error
// stops the scan.
func (s *Store) scanDesc(it *pebble.Iterator, user notify.UserID, fn func(notify.Cursor, entryView) error) error {
	return scan(it, user, true, fn)
}

// scanAsc is scanDesc oldest first, which Pebble iterates faster: for
// the scans that need no order.
func (s *Store) scanAsc(it *pebble.Iterator, user notify.UserID, fn func(notify.Cursor, entryView) error) error {
	return scan(it, user, false, fn)
}

func scan(it *pebble.Iterator, user notify.UserID, desc bool, fn func(notify.Cursor, entryView) error) error {
	meta := metaKey(nil, user)
	keyLen := len(meta) + 8 // prefix, tagEntry, cursor
	ok, next := it.First(), it.Next
	if desc {
		ok, next = it.Last(), it.Prev
	}
	for ; ok; ok = next() {
		k := it.Key()
		if len(k) != keyLen || k[keyLen-9] != tagEntry {
			if bytes.Equal(k, meta) {
				continue // the meta record precedes every entry
			}
			return fmt.Errorf("key %q: %w", k, errCorrupt)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		e, err := decodeEntryView(v)
		if err != nil {
			return fmt.Errorf("entry %d: %w", cursorOf(k[keyLen-8:]), err)
		}
		if err := fn(cursorOf(k[keyLen-8:]), e); err != nil {
			return err
		}
	}
	return it.Error()
}
