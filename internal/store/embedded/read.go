package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
)

// Read implements store.Store. A limit of zero or less means
// DefaultReadLimit. Expired notifications are skipped without counting
// toward the limit, so a short page means the end of the inbox.
func (s *Store) Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: read %s: %w", user, err)
	}
	release, err := s.hold()
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", user, err)
	}
	defer release()
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	// One iterator over the meta record and the entries: both come from the
	// same consistent view of the database.
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: metaKey(nil, user),
		UpperBound: userEnd(nil, user),
	})
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", user, err)
	}
	defer it.Close()

	m, err := metaAt(it, user)
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", user, err)
	}
	m.last = s.visibleLast(user, m.last)
	if after < m.floor || after > m.last {
		return nil, fmt.Errorf("store: read %s after %d (retained %d..%d): %w", user, after, m.floor, m.last, notify.ErrCursorExpired)
	}
	now := s.opts.Now()
	out := make([]notify.Entry, 0, min(uint64(limit), uint64(m.last-after)))
	// Every key after the meta record within the bounds is an entry key:
	// the user prefix, tagEntry, then the cursor.
	keyLen := len(entryKey(nil, user, 0))
	for ok := it.SeekGE(entryKey(nil, user, after+1)); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) != keyLen || k[keyLen-9] != tagEntry {
			return nil, fmt.Errorf("store: read %s: key %q: %w", user, k, errCorrupt)
		}
		rest := k[keyLen-8:]
		if cursorOf(rest) > m.last {
			break // its WAL sync is under way
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("store: read %s: %w", user, err)
		}
		e, err := decodeEntry(v)
		if err != nil {
			return nil, fmt.Errorf("store: read %s: %w", user, err)
		}
		n, err := s.notification(e.id)
		if err != nil {
			return nil, fmt.Errorf("store: read %s: %w", user, err)
		}
		// A missing body was purged because it expired.
		if n == nil || n.Expired(now) {
			continue
		}
		out = append(out, notify.Entry{
			User:         user,
			Cursor:       cursorOf(rest),
			Topic:        e.topic,
			Notification: n,
		})
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("store: read %s: %w", user, err)
	}
	return out, nil
}

// Last implements store.Store.
func (s *Store) Last(ctx context.Context, user notify.UserID) (notify.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: last %s: %w", user, err)
	}
	release, err := s.hold()
	if err != nil {
		return 0, fmt.Errorf("store: last %s: %w", user, err)
	}
	defer release()
	m, err := s.loadMeta(user)
	if err != nil {
		return 0, fmt.Errorf("store: last %s: %w", user, err)
	}
	return s.visibleLast(user, m.last), nil
}

// visibleLast is last, or less while the user's newest entries wait for
// their WAL sync (see durableBounds).
func (s *Store) visibleLast(user notify.UserID, last notify.Cursor) notify.Cursor {
	if b, ok := s.bounds.bound(user); ok && b < last {
		return b
	}
	return last
}

// metaAt reads the meta record through an iterator bounded to user's keys.
func metaAt(it *pebble.Iterator, user notify.UserID) (meta, error) {
	if !it.SeekGE(metaKey(nil, user)) {
		return meta{}, it.Error()
	}
	_, tag, _, err := parseUserKey(it.Key())
	if err != nil || tag != tagMeta {
		return meta{}, nil // no meta yet: a user without entries
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return meta{}, err
	}
	return decodeMeta(v)
}

// loadMeta reads a user's committed meta record.
func (s *Store) loadMeta(user notify.UserID) (meta, error) {
	v, closer, err := s.db.Get(metaKey(nil, user))
	if errors.Is(err, pebble.ErrNotFound) {
		return meta{}, nil
	}
	if err != nil {
		return meta{}, err
	}
	defer closer.Close()
	return decodeMeta(v)
}

// notification returns the body of id, or nil if it was purged.
func (s *Store) notification(id string) (*notify.Notification, error) {
	if n := s.cache.get(id); n != nil {
		return n, nil
	}
	v, closer, err := s.db.Get(bodyKey(nil, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	n, err := decodeNotification(v)
	if err != nil {
		return nil, fmt.Errorf("body %s: %w", id, err)
	}
	s.cache.add(n)
	return n, nil
}
