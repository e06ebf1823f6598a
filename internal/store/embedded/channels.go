package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Channels go through the writer like appends: a publish joins the group
// commit, its events get their offsets there, are fsynced with the group
// and reach the commit hook with it, and readers see them once the sync
// ended (durableBounds, under the channel's key).
//
// Each event holds its own copy of the notification's body: a history is
// short (100 events by default), so trimming it deletes what it trims
// without reading anything or counting references, a read needs no second
// lookup per event, and the inbox's bodies keep their own, longer,
// retention. A notification to users and channels costs one more copy
// per channel.

// maxChanCache bounds the writer's channel states; past it the cache
// starts over at the next group (a miss reads the channel's history, at
// most ChannelHistory small keys).
const maxChanCache = 1 << 12

// pubRequest is one Publish waiting for the writer.
type pubRequest struct {
	n        *notify.Notification
	channels []notify.Channel
}

// chanEvent is what the writer keeps of a retained event.
type chanEvent struct {
	off notify.Cursor
	at  int64 // append time, Unix ns; never below an older event's
	id  string
}

// chanState is a channel as the writer knows it: its meta record and its
// retained events, oldest first. Known is false while no meta record
// exists.
type chanState struct {
	chanMeta
	known  bool
	events []chanEvent
}

// Publish implements store.Channels. It returns once the events are
// durable, as Append does.
func (s *Store) Publish(ctx context.Context, n *notify.Notification, channels []notify.Channel) ([]notify.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: publish: %w", err)
	}
	if err := store.CheckPublish(n, channels); err != nil || len(channels) == 0 {
		return nil, err
	}
	rep := s.do(ctx, "publish", &request{pub: &pubRequest{n: n, channels: channels}})
	return rep.offsets, rep.err
}

// ChannelRead implements store.Channels. A limit of zero or less means
// DefaultReadLimit; expired notifications do not count toward it.
func (s *Store) ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error) {
	out, err := s.readChannel(ctx, ch, after, false, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read channel %s after %d: %w", ch, after, err)
	}
	return out, nil
}

// ChannelHistory implements store.Channels.
func (s *Store) ChannelHistory(ctx context.Context, ch notify.Channel, limit int) ([]notify.Entry, error) {
	out, err := s.readChannel(ctx, ch, 0, true, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read channel %s from its oldest event: %w", ch, err)
	}
	return out, nil
}

// readChannel holds the database for channelRead.
func (s *Store) readChannel(ctx context.Context, ch notify.Channel, after notify.Cursor, oldest bool, limit int) ([]notify.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release, err := s.hold()
	if err != nil {
		return nil, err
	}
	defer release()
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: chanMetaKey(nil, ch),
		UpperBound: chanEnd(nil, ch),
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	return s.channelRead(it, ch, after, oldest, limit)
}

// channelRead reads ch after `after`, or from its oldest retained event
// when oldest is set.
func (s *Store) channelRead(it *pebble.Iterator, ch notify.Channel, after notify.Cursor, oldest bool, limit int) ([]notify.Entry, error) {
	m, _, err := chanMetaAt(it, ch)
	if err != nil {
		return nil, err
	}
	last := s.visibleLast(ch.Key(), m.last)
	now := s.opts.Now()
	cutoff := now.Add(-s.opts.ChannelHistoryAge).UnixNano()
	// Events older than the age are gone; times never decrease with the
	// offset, so they are a prefix of what is stored.
	gone := m.floor
	keyLen := len(chanEventKey(nil, ch, 0))
	for ok := it.SeekGE(chanEventKey(nil, ch, m.floor+1)); ok; ok = it.Next() {
		off, v, err := chanEventAt(it, keyLen)
		if err != nil {
			return nil, err
		}
		if off > last {
			break
		}
		at, _, _, err := decodeChanEventHead(v)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", off, err)
		}
		if at >= cutoff {
			break
		}
		gone = off
	}
	if oldest {
		after = gone
	} else if store.ChannelMissed(after, gone, m.first, last) {
		return nil, fmt.Errorf("retained %d..%d: %w", gone, last, notify.ErrCursorExpired)
	}
	var out []notify.Entry
	for ok := it.SeekGE(chanEventKey(nil, ch, after+1)); ok && len(out) < limit; ok = it.Next() {
		off, v, err := chanEventAt(it, keyLen)
		if err != nil {
			return nil, err
		}
		if off > last {
			break // its WAL sync is under way
		}
		n, err := s.chanNotification(v)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", off, err)
		}
		if n.Expired(now) {
			continue
		}
		out = append(out, notify.Entry{User: ch.Key(), Cursor: off, Notification: n})
	}
	return out, it.Error()
}

// chanEventAt returns the offset and value of the event the iterator is
// at, which must be one of the channel's events (keys of keyLen bytes).
func chanEventAt(it *pebble.Iterator, keyLen int) (notify.Cursor, []byte, error) {
	k := it.Key()
	if len(k) != keyLen || k[keyLen-9] != tagEntry {
		return 0, nil, fmt.Errorf("key %q: %w", k, errCorrupt)
	}
	v, err := it.ValueAndErr()
	return cursorOf(k[keyLen-8:]), v, err
}

// chanNotification decodes an event's notification, through the body
// cache: a notification's body is the same in every channel and inbox.
func (s *Store) chanNotification(v []byte) (*notify.Notification, error) {
	_, id, body, err := decodeChanEventHead(v)
	if err != nil {
		return nil, err
	}
	if n := s.cache.get(string(id)); n != nil {
		return n, nil
	}
	n, err := decodeNotification(body)
	if err != nil {
		return nil, err
	}
	s.cache.add(n)
	return n, nil
}

// ChannelLast implements store.Channels.
func (s *Store) ChannelLast(ctx context.Context, ch notify.Channel) (notify.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: last of channel %s: %w", ch, err)
	}
	release, err := s.hold()
	if err != nil {
		return 0, fmt.Errorf("store: last of channel %s: %w", ch, err)
	}
	defer release()
	v, closer, err := s.db.Get(chanMetaKey(nil, ch))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: last of channel %s: %w", ch, err)
	}
	defer closer.Close()
	m, err := decodeChanMeta(v)
	if err != nil {
		return 0, fmt.Errorf("store: last of channel %s: %w", ch, err)
	}
	return s.visibleLast(ch.Key(), m.last), nil
}

// chanMetaAt reads the meta record through an iterator bounded to ch's
// keys; known is false when there is none.
func chanMetaAt(it *pebble.Iterator, ch notify.Channel) (m chanMeta, known bool, err error) {
	if !it.SeekGE(chanMetaKey(nil, ch)) {
		return chanMeta{}, false, it.Error()
	}
	_, tag, _, err := parseChanKey(it.Key())
	if err != nil || tag != tagMeta {
		return chanMeta{}, false, nil
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return chanMeta{}, false, err
	}
	m, err = decodeChanMeta(v)
	return m, err == nil, err
}

// chanState returns ch's state, from the writer's cache or the database.
// Only the writer calls it; a group's publishes change the cached state
// in place (commitGroup drops the cache if the group fails).
func (w *writer) chanState(ch notify.Channel) (*chanState, error) {
	if st, ok := w.chans[ch]; ok {
		return st, nil
	}
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: chanMetaKey(nil, ch), UpperBound: chanEnd(nil, ch)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	st := &chanState{}
	st.chanMeta, st.known, err = chanMetaAt(it, ch)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", ch, err)
	}
	keyLen := len(chanEventKey(nil, ch, 0))
	for ok := it.SeekGE(chanEventKey(nil, ch, st.floor+1)); ok; ok = it.Next() {
		off, v, err := chanEventAt(it, keyLen)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", ch, err)
		}
		at, id, _, err := decodeChanEventHead(v)
		if err != nil {
			return nil, fmt.Errorf("channel %s: event %d: %w", ch, off, err)
		}
		st.events = append(st.events, chanEvent{off: off, at: at, id: string(id)})
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	w.chans[ch] = st
	return st, nil
}

// chanSpans collects a group's span of offsets per channel, for the
// durable bounds.
type chanSpans struct {
	index map[notify.Channel]int
	spans []span
}

func (c *chanSpans) add(ch notify.Channel, off notify.Cursor) {
	if i, ok := c.index[ch]; ok {
		c.spans[i].last = off
		return
	}
	if c.index == nil {
		c.index = make(map[notify.Channel]int)
	}
	c.index[ch] = len(c.spans)
	c.spans = append(c.spans, span{user: ch.Key(), first: off, last: off})
}

// publish adds one Publish to the batch and returns its offsets. Per
// channel: the events older than the age go; an event of n.ID still there
// answers with its offset; else the event is appended, a new history
// starting at store.ChannelEpoch or above, and the oldest beyond
// ChannelHistory go.
func (w *writer) publish(b *pebble.Batch, pr *pubRequest, now time.Time, sp *chanSpans) ([]notify.Cursor, error) {
	n := pr.n
	offs := make([]notify.Cursor, len(pr.channels))
	keep := w.s.opts.ChannelHistory
	nanos := now.UnixNano()
	cutoff := now.Add(-w.s.opts.ChannelHistoryAge).UnixNano()
	body := encodeNotification(nil, n)
	for i, ch := range pr.channels {
		st, err := w.chanState(ch)
		if err != nil {
			return nil, err
		}
		k := 0
		for k < len(st.events) && st.events[k].at < cutoff {
			k++
		}
		if err := w.dropEvents(b, ch, st, k); err != nil {
			return nil, err
		}
		if j := slices.IndexFunc(st.events, func(e chanEvent) bool { return e.id == n.ID }); j >= 0 {
			offs[i] = st.events[j].off
			continue
		}
		at := nanos
		if len(st.events) == 0 {
			// A new history, above every offset known.
			base := max(store.ChannelEpoch(now), st.last+1)
			if !st.known {
				st.floor = base - 1
			}
			st.first, st.last, st.known = base, base-1, true
		} else {
			at = max(at, st.events[len(st.events)-1].at)
		}
		st.last++
		w.buf = appendChanEvent(w.buf[:0], at, body)
		if err := b.Set(chanEventKey(w.key[:0], ch, st.last), w.buf, nil); err != nil {
			return nil, err
		}
		st.events = append(st.events, chanEvent{off: st.last, at: at, id: n.ID})
		if err := w.dropEvents(b, ch, st, len(st.events)-keep); err != nil {
			return nil, err
		}
		if err := b.Set(chanMetaKey(w.key[:0], ch), encodeChanMeta(w.buf[:0], st.chanMeta), nil); err != nil {
			return nil, err
		}
		offs[i] = st.last
		sp.add(ch, st.last)
		w.chanEntries = append(w.chanEntries, notify.Entry{User: ch.Key(), Cursor: st.last, Notification: n})
	}
	return offs, nil
}

// dropEvents deletes the k oldest retained events of ch and raises its
// floor over them.
func (w *writer) dropEvents(b *pebble.Batch, ch notify.Channel, st *chanState, k int) error {
	if k <= 0 {
		return nil
	}
	for _, e := range st.events[:k] {
		if err := b.Delete(chanEventKey(w.key[:0], ch, e.off), nil); err != nil {
			return err
		}
	}
	st.floor = st.events[k-1].off
	st.events = slices.Delete(st.events, 0, k)
	return nil
}

// sweepChannels deletes, channel by channel, the events older than
// ChannelHistoryAge, and a channel's meta record with its last event: a
// later publish starts a new history at store.ChannelEpoch, above the old
// offsets. It returns the channels it changed.
func (w *writer) sweepChannels(b *pebble.Batch) ([]notify.Channel, error) {
	sw := w.sweep
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: sw.next, UpperBound: []byte{kindChan + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var touched []notify.Channel
	budget := sweepChunk
	for ok := it.First(); ok; {
		ch, tag, _, err := parseChanKey(it.Key())
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Key(), err)
		}
		if tag != tagMeta {
			ok = it.SeekGE(chanEnd(nil, ch)) // events without a meta record cannot exist
			continue
		}
		if budget <= 0 {
			sw.next = chanMetaKey(nil, ch)
			return touched, nil
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		m, err := decodeChanMeta(v)
		if err != nil {
			return nil, fmt.Errorf("meta of channel %s: %w", ch, err)
		}
		prefix := append(appendChanPrefix(nil, ch), tagEntry)
		gone, young := m.floor, false
		for ok = it.SeekGE(chanEventKey(nil, ch, m.floor+1)); ok; ok = it.Next() {
			k := it.Key()
			if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
				break // past this channel's events
			}
			off := cursorOf(k[len(prefix):])
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, err
			}
			at, _, _, err := decodeChanEventHead(v)
			if err != nil {
				return nil, fmt.Errorf("channel %s: event %d: %w", ch, off, err)
			}
			if at >= sw.chanLimit {
				young = true
				break
			}
			gone = off
			budget--
		}
		switch {
		case !young:
			// Every event is gone: so goes the channel.
			if err := b.DeleteRange(chanMetaKey(nil, ch), chanEnd(nil, ch), nil); err != nil {
				return nil, err
			}
			touched = append(touched, ch)
		case gone > m.floor:
			if err := b.DeleteRange(chanEventKey(nil, ch, m.floor+1), chanEventKey(nil, ch, gone+1), nil); err != nil {
				return nil, err
			}
			m.floor = gone
			if err := b.Set(chanMetaKey(nil, ch), encodeChanMeta(nil, m), nil); err != nil {
				return nil, err
			}
			touched = append(touched, ch)
		}
		budget--
		ok = it.SeekGE(chanEnd(nil, ch))
	}
	sw.phase, sw.next = phaseDone, nil
	return touched, it.Error()
}
