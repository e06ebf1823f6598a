package embedded

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
)

// sweepChunk bounds the keys one step of the sweep touches, so that an
// append never waits behind more than one small batch.
const sweepChunk = 512

// Sweep phases, in order. Entries go before bodies, so a Read never finds
// an entry whose body was aged out.
const (
	phaseEntries = iota
	phaseBodyAge
	phaseBodyExpire
	phaseIdem
	phaseChannels
	phaseDone
)

// sweep is a retention pass in progress, resumable between chunks.
type sweep struct {
	phase      int
	next       []byte    // where the current phase resumes
	entryLimit int64     // entries appended before this (Unix ns) are removed
	bodyLimit  time.Time // bodies appended before this are removed
	now        time.Time // bodies expiring before this are removed
	idemLimit  time.Time // idempotency records older than this are removed
	chanLimit  int64     // channel events appended before this (Unix ns) are removed
	removed    int
	waiters    []chan error
}

func (w *writer) startSweep(done chan error) {
	now := w.s.opts.Now()
	cutoff := now.Add(-w.s.opts.RetentionAge)
	w.sweep = &sweep{
		next:       []byte{kindUser},
		entryLimit: cutoff.UnixNano(),
		bodyLimit:  cutoff,
		now:        now,
		idemLimit:  now.Add(-w.s.opts.IdempotencyWindow),
		chanLimit:  now.Add(-w.s.opts.ChannelHistoryAge).UnixNano(),
	}
	if done != nil {
		w.sweep.waiters = append(w.sweep.waiters, done)
	}
}

func (w *writer) finishSweep(err error) {
	for _, done := range w.sweep.waiters {
		done <- err
	}
	if err == nil && w.sweep.removed > 0 {
		w.s.opts.Logger.Debug("store: retention sweep", "removed", w.sweep.removed)
	}
	w.sweep = nil
}

// sweepStep runs one chunk of the sweep and commits it.
func (w *writer) sweepStep() {
	if err := w.s.brokenErr(); err != nil {
		w.finishSweep(fmt.Errorf("store: sweep: %w: %w", notify.ErrUnavailable, err))
		return
	}
	sw := w.sweep
	b := w.s.db.NewBatch()
	defer b.Close()
	var (
		touched  []notify.UserID
		channels []notify.Channel
		bodies   []string
		err      error
	)
	switch sw.phase {
	case phaseEntries:
		touched, err = w.sweepEntries(b)
	case phaseBodyAge:
		bodies, err = w.sweepIndex(b, kindBodyAge, sw.bodyLimit, w.deleteBody)
	case phaseBodyExpire:
		bodies, err = w.sweepIndex(b, kindBodyExpire, sw.now, w.deleteBody)
	case phaseIdem:
		_, err = w.sweepIndex(b, kindIdemAge, sw.idemLimit, w.deleteIdem)
	case phaseChannels:
		channels, err = w.sweepChannels(b)
	}
	if err == nil && !b.Empty() {
		// No fsync: a lost chunk is redone by the next pass, and the next
		// group commit's fsync covers it anyway.
		err = w.s.commitBatch(b, pebble.NoSync)
	}
	if err != nil {
		w.s.opts.Logger.Error("store: retention sweep failed", "err", err)
		w.finishSweep(fmt.Errorf("store: sweep: %w", err))
		return
	}
	sw.removed += int(b.Count())
	for _, u := range touched {
		delete(w.metas, u) // reloaded from disk when next needed
	}
	for _, ch := range channels {
		delete(w.chans, ch) // reloaded from disk when next needed
	}
	for _, id := range bodies {
		w.s.cache.remove(id)
	}
	if sw.phase == phaseDone {
		w.finishSweep(nil)
	}
}

// sweepEntries removes, user by user, the entries older than RetentionAge
// and raises the floors.
func (w *writer) sweepEntries(b *pebble.Batch) ([]notify.UserID, error) {
	sw := w.sweep
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: sw.next, UpperBound: []byte{kindUser + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var touched []notify.UserID
	budget := sweepChunk
	for ok := it.First(); ok; {
		user, tag, _, err := parseUserKey(it.Key())
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Key(), err)
		}
		if tag != tagMeta {
			// Entries without a meta record cannot exist; skip the user.
			ok = it.SeekGE(userEnd(nil, user))
			continue
		}
		if budget <= 0 {
			sw.next = metaKey(nil, user)
			return touched, nil
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		m, err := decodeMeta(v)
		if err != nil {
			return nil, fmt.Errorf("meta of %s: %w", user, err)
		}
		newFloor := m.floor
		for ok = it.SeekGE(entryKey(nil, user, m.floor+1)); ok && budget > 0; ok = it.Next() {
			u, tag, rest, err := parseUserKey(it.Key())
			if err != nil || u != user || tag != tagEntry || len(rest) != 8 {
				break // past this user's entries
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, err
			}
			e, err := decodeEntryView(v)
			if err != nil {
				return nil, fmt.Errorf("entry of %s: %w", user, err)
			}
			if e.time >= sw.entryLimit {
				break
			}
			newFloor = cursorOf(rest)
			budget--
		}
		if newFloor > m.floor {
			if err := deleteEntries(b, user, m.floor, newFloor); err != nil {
				return nil, err
			}
			m.floor = newFloor
			if err := b.Set(metaKey(nil, user), encodeMeta(nil, m), nil); err != nil {
				return nil, err
			}
			touched = append(touched, user)
		}
		budget--
		if budget <= 0 {
			// Resume at this user: the rest of its old entries, if any,
			// come next chunk.
			sw.next = metaKey(nil, user)
			return touched, nil
		}
		ok = it.SeekGE(userEnd(nil, user))
	}
	sw.phase, sw.next = phaseBodyAge, []byte{kindBodyAge}
	return touched, it.Error()
}

// sweepIndex walks a time index up to limit, deleting each index key and
// what it points to (through del), and moves on to the next phase when the
// index holds nothing older.
func (w *writer) sweepIndex(b *pebble.Batch, kind byte, limit time.Time, del func(*pebble.Batch, string) (bool, error)) ([]string, error) {
	sw := w.sweep
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: sw.next, UpperBound: timeKey(nil, kind, limit, "")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var deleted []string
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n >= sweepChunk {
			sw.next = append([]byte(nil), it.Key()...)
			return deleted, nil
		}
		suffix, err := parseTimeKey(it.Key())
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Key(), err)
		}
		removed, err := del(b, suffix)
		if err != nil {
			return nil, err
		}
		if removed {
			deleted = append(deleted, suffix)
		}
		if err := b.Delete(it.Key(), nil); err != nil {
			return nil, err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	sw.phase++
	sw.next = []byte{phaseKind(sw.phase)}
	return deleted, nil
}

func phaseKind(phase int) byte {
	switch phase {
	case phaseBodyExpire:
		return kindBodyExpire
	case phaseIdem:
		return kindIdemAge
	case phaseChannels:
		return kindChan
	default:
		return 0
	}
}

func (w *writer) deleteBody(b *pebble.Batch, id string) (bool, error) {
	return true, b.Delete(bodyKey(nil, id), nil)
}

// deleteIdem deletes an idempotency record unless a newer one (the key was
// reused after the window) replaced it.
func (w *writer) deleteIdem(b *pebble.Batch, key string) (bool, error) {
	v, closer, err := w.s.db.Get(idemKey(nil, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rec, decErr := decodeIdem(v)
	closer.Close()
	if decErr == nil && rec.time >= int64(clampNanos(w.sweep.idemLimit)) {
		return false, nil
	}
	return true, b.Delete(idemKey(nil, key), nil)
}
