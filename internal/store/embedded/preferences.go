package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// prefsV1 is muted topics, then muted categories: each a count and
// length-prefixed strings, strictly ascending.
const prefsV1 = 1

// A user with nothing muted has no record: the common case costs a miss.
func prefsKey(dst []byte, user notify.UserID) []byte {
	return appendPrefixed(dst, kindPrefs, string(user))
}

func encodePrefs(dst []byte, p store.UserPreferences) []byte {
	dst = append(dst, prefsV1)
	dst = appendStrings(dst, p.MutedTopics)
	return appendStrings(dst, p.MutedCategories)
}

func appendStrings[S ~string](dst []byte, ss []S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendString(dst, string(s))
	}
	return dst
}

func decodePrefs(b []byte) (store.UserPreferences, error) {
	d := decoder{b: b}
	d.version(prefsV1)
	p := store.UserPreferences{
		MutedTopics:     decodeStrings[notify.Topic](&d),
		MutedCategories: decodeStrings[string](&d),
	}
	if err := d.done(); err != nil {
		return store.UserPreferences{}, err
	}
	return p, nil
}

// decodeStrings reads a list written by appendStrings, refusing lists out
// of order so that every value has one spelling.
func decodeStrings[S ~string](d *decoder) []S {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) { // each string takes at least its length byte
		d.err = errCorrupt
		return nil
	}
	out := make([]S, 0, n)
	for range n {
		s := S(d.string())
		if d.err != nil {
			return nil
		}
		if len(out) > 0 && out[len(out)-1] >= s {
			d.err = errCorrupt
			return nil
		}
		out = append(out, s)
	}
	return out
}

// UserPreferences implements store.Preferences.
func (s *Store) UserPreferences(ctx context.Context, user notify.UserID) (store.UserPreferences, error) {
	ps, err := s.PreferencesOf(ctx, []notify.UserID{user})
	if err != nil {
		return store.UserPreferences{}, err
	}
	return ps[0], nil
}

// UpdatePreferences implements store.Preferences: the mutes, then the
// unmutes, applied atomically. A change that leaves nothing muted deletes
// the record.
func (s *Store) UpdatePreferences(ctx context.Context, user notify.UserID, change store.PreferenceChange) (store.UserPreferences, error) {
	if err := ctx.Err(); err != nil {
		return store.UserPreferences{}, fmt.Errorf("store: update preferences of %s: %w", user, err)
	}
	var next store.UserPreferences
	err := s.writeLocked(func(b *pebble.Batch) error {
		key := prefsKey(nil, user)
		cur, err := s.loadPrefs(key)
		if err != nil {
			return err
		}
		next = store.UserPreferences{
			MutedTopics:     applyMutes(cur.MutedTopics, change.MuteTopics, change.UnmuteTopics),
			MutedCategories: applyMutes(cur.MutedCategories, change.MuteCategories, change.UnmuteCategories),
		}
		switch {
		case slices.Equal(cur.MutedTopics, next.MutedTopics) && slices.Equal(cur.MutedCategories, next.MutedCategories):
			return nil
		case len(next.MutedTopics) == 0 && len(next.MutedCategories) == 0:
			return b.Delete(key, nil)
		default:
			return b.Set(key, encodePrefs(nil, next), nil)
		}
	})
	if err != nil {
		return store.UserPreferences{}, fmt.Errorf("store: update preferences of %s: %w", user, err)
	}
	return next, nil
}

// applyMutes returns cur with mute added and unmute removed, sorted and
// without repeats; nil if empty.
func applyMutes[S ~string](cur, mute, unmute []S) []S {
	out := slices.Concat(cur, mute)
	slices.Sort(out)
	out = slices.Compact(out)
	out = slices.DeleteFunc(out, func(v S) bool { return slices.Contains(unmute, v) })
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *Store) loadPrefs(key []byte) (store.UserPreferences, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return store.UserPreferences{}, nil
	}
	if err != nil {
		return store.UserPreferences{}, err
	}
	defer closer.Close()
	return decodePrefs(v)
}

// PreferencesOf implements store.Preferences. The router calls it for every
// chunk of recipients of a fan-out, so it reads them all with one iterator,
// seeking forward in key order.
func (s *Store) PreferencesOf(ctx context.Context, users []notify.UserID) ([]store.UserPreferences, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: preferences: %w", err)
	}
	out := make([]store.UserPreferences, len(users))
	if len(users) == 0 {
		return out, nil
	}
	// All keys in one buffer; order holds the users' indexes in key order.
	size := 0
	for _, u := range users {
		size += len(u) + 1 + binary.MaxVarintLen16
	}
	var (
		buf   = make([]byte, 0, size) // a fan-out part's thousand keys grew it a dozen times
		ends  = make([]int, len(users))
		order = make([]int, len(users))
	)
	for i, u := range users {
		buf = prefsKey(buf, u)
		ends[i] = len(buf)
		order[i] = i
	}
	key := func(i int) []byte {
		if i == 0 {
			return buf[:ends[0]]
		}
		return buf[ends[i-1]:ends[i]]
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(bytes.Compare(key(a), key(b)), cmp.Compare(a, b))
	})
	err := s.readOpen(func() error {
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
			LowerBound: []byte{kindPrefs},
			UpperBound: []byte{kindPrefs + 1},
		})
		if err != nil {
			return err
		}
		defer it.Close()
		for _, i := range order {
			k := key(i)
			if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
				if err := it.Error(); err != nil {
					return err
				}
				continue
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			if out[i], err = decodePrefs(v); err != nil {
				return fmt.Errorf("preferences of %s: %w", users[i], err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: preferences: %w", err)
	}
	return out, nil
}
