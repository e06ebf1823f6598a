package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
)

// Subscriptions and preferences live in key kinds of their own, outside the
// user range that reads and retention sweep:
//
//	S <len><topic> <user>              subscriber: topic → user (empty value)
//	T <len><user> <topic>              subscription: user → topic (empty value)
//	P <len><user>                      preferences: muted topics and categories
//
// The last component of an index key is not length-prefixed, so a topic's
// subscribers sort by user ID bytes and a page resumes with a seek. Both
// index keys of a pair are written in one batch.
//
// These writes do not go through the writer goroutine: they are rare, touch
// no cursors, and counting "added" needs a read under Store.subMu anyway.
// They are committed with fsync before the call returns.
const (
	kindTopicSub  = 'S'
	kindUserTopic = 'T'
	kindPrefs     = 'P'
)

// The kinds must differ from those of keys.go: duplicate constant cases in a
// switch do not compile.
func _(k byte) {
	switch k {
	case kindUser, kindBody, kindBodyAge, kindBodyExpire, kindIdem, kindIdemAge,
		kindTopicSub, kindUserTopic, kindPrefs:
	}
}

// Page sizes of the listings.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 10000
)

func pageLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageLimit
	case limit > MaxPageLimit:
		return MaxPageLimit
	default:
		return limit
	}
}

// appendPrefixed appends kind and the length-prefixed s.
func appendPrefixed(dst []byte, kind byte, s string) []byte {
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func topicSubKey(dst []byte, topic notify.Topic, user notify.UserID) []byte {
	return append(appendPrefixed(dst, kindTopicSub, string(topic)), user...)
}

func userTopicKey(dst []byte, user notify.UserID, topic notify.Topic) []byte {
	return append(appendPrefixed(dst, kindUserTopic, string(user)), topic...)
}

// prefixEnd is the smallest key greater than every key starting with
// prefix, or nil if there is none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Subscribe implements store.Subscriptions.
func (s *Store) Subscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	n, err := s.changeSubscriptions(ctx, topics, users, true)
	if err != nil {
		return 0, fmt.Errorf("store: subscribe: %w", err)
	}
	return n, nil
}

// Unsubscribe implements store.Subscriptions.
func (s *Store) Unsubscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	n, err := s.changeSubscriptions(ctx, topics, users, false)
	if err != nil {
		return 0, fmt.Errorf("store: unsubscribe: %w", err)
	}
	return n, nil
}

// changeSubscriptions adds (or removes) every pair that is missing (or
// present), and returns how many it changed.
func (s *Store) changeSubscriptions(ctx context.Context, topics []notify.Topic, users []notify.UserID, add bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(topics) == 0 || len(users) == 0 {
		return 0, nil
	}
	// Users ascending, so that each topic's checks seek forward.
	topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	users = slices.Compact(slices.Sorted(slices.Values(users)))

	changed := 0
	err := s.writeLocked(func(b *pebble.Batch) error {
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
			LowerBound: []byte{kindTopicSub},
			UpperBound: []byte{kindTopicSub + 1},
		})
		if err != nil {
			return err
		}
		defer it.Close()
		var key, rev []byte
		for _, topic := range topics {
			for i, user := range users {
				if i%1024 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				key = topicSubKey(key[:0], topic, user)
				exists := it.SeekGE(key) && bytes.Equal(it.Key(), key)
				if err := it.Error(); err != nil {
					return err
				}
				if exists == add {
					continue
				}
				rev = userTopicKey(rev[:0], user, topic)
				if err := setKeys(b, add, key, rev); err != nil {
					return err
				}
				changed++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}

// setKeys sets (with empty values) or deletes keys in b.
func setKeys(b *pebble.Batch, set bool, keys ...[]byte) error {
	for _, k := range keys {
		var err error
		if set {
			err = b.Set(k, nil, nil)
		} else {
			err = b.Delete(k, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeLocked runs fill under subMu and commits what it wrote with fsync.
// It holds the database throughout (see hold), so Close and a reopen wait
// for it.
func (s *Store) writeLocked(fill func(*pebble.Batch) error) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	defer release()
	if err := s.brokenErr(); err != nil {
		return fmt.Errorf("%w: %w", notify.ErrUnavailable, err)
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := fill(b); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	if err := s.commitBatch(b, pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", notify.ErrUnavailable, err)
	}
	return nil
}

// readOpen runs fn while it holds the database (see hold).
func (s *Store) readOpen(fn func() error) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	defer release()
	return fn()
}

// UserTopics implements store.Subscriptions. A limit of zero or less means
// DefaultPageLimit; it is capped at MaxPageLimit.
func (s *Store) UserTopics(ctx context.Context, user notify.UserID, after notify.Topic, limit int) ([]notify.Topic, error) {
	prefix := appendPrefixed(nil, kindUserTopic, string(user))
	var out []notify.Topic
	err := s.scanSuffixes(ctx, prefix, string(after), pageLimit(limit), func(n int) {
		out = make([]notify.Topic, 0, n)
	}, func(v string) {
		out = append(out, notify.Topic(v))
	})
	if err != nil {
		return nil, fmt.Errorf("store: topics of %s: %w", user, err)
	}
	return out, nil
}

// TopicSubscribers implements store.Subscriptions: a topic's users in
// ascending byte order. A limit of zero or less means DefaultPageLimit; it
// is capped at MaxPageLimit. Each page is one bounded iterator and one
// string allocation for all its IDs, so paging through 100,000 subscribers
// stays cheap.
func (s *Store) TopicSubscribers(ctx context.Context, topic notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	prefix := appendPrefixed(nil, kindTopicSub, string(topic))
	var out []notify.UserID
	err := s.scanSuffixes(ctx, prefix, string(after), pageLimit(limit), func(n int) {
		out = make([]notify.UserID, 0, n)
	}, func(v string) {
		out = append(out, notify.UserID(v))
	})
	if err != nil {
		return nil, fmt.Errorf("store: subscribers of %s: %w", topic, err)
	}
	return out, nil
}

// scanSuffixes hands fn, in key order, the suffixes after prefix of up to
// limit keys that sort after prefix+after; start is told how many.
func (s *Store) scanSuffixes(ctx context.Context, prefix []byte, after string, limit int, start func(n int), fn func(string)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lower := prefix
	if after != "" {
		// The successor of prefix+after: the next key after it.
		lower = append(append(bytes.Clone(prefix), after...), 0)
	}
	return s.readOpen(func() error {
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		defer it.Close()
		// All suffixes go into one buffer that becomes one string; the
		// values returned are slices of it.
		var (
			buf  []byte
			ends []int
		)
		for ok := it.First(); ok && len(ends) < limit; ok = it.Next() {
			buf = append(buf, it.Key()[len(prefix):]...)
			ends = append(ends, len(buf))
		}
		if err := it.Error(); err != nil {
			return err
		}
		all := string(buf)
		start(len(ends))
		from := 0
		for _, end := range ends {
			fn(all[from:end])
			from = end
		}
		return nil
	})
}
