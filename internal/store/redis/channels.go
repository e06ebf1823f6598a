package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Channels: each channel lives under its own hash tag (chanKeys), its
// events in a Redis Stream whose entry IDs are the offsets ("<offset>-0"),
// each entry holding its append time and the notification; a ZSET of
// notification IDs scored by offset answers retries and is trimmed with
// the stream by score, so trimming reads nothing. One script per channel
// and group appends (publishScript); a Publish to several channels
// pipelines their scripts with the group's appends. Reads are one MULTI of
// HMGET and XRANGE: no script, since Go decides what is gone.
//
// A stream rather than a hash keyed by offset (the inbox's layout): reads
// are ranges by offset, which XRANGE serves in order with no list of
// fields to compute, trimming is XTRIM MINID, and a stream's entries sit
// in listpacks, a few per node, with field names shared. The body is
// stored per event, as the inbox does, for the same reason: a shared body
// key would sit in another slot.

// pubRequest is one Publish waiting for the writer.
type pubRequest struct {
	n        *notify.Notification
	channels []notify.Channel
}

// pubItem is a Publish in a group.
type pubItem struct {
	req     int
	pub     *pubRequest
	offsets []notify.Cursor // the group's reply slice
	err     error
}

// chanBatch is one channel's events of a group: one script call.
type chanBatch struct {
	ch   notify.Channel
	call *call
	refs []chanRef
}

type chanRef struct {
	p *pubItem
	i int // index of the channel in the Publish
}

// publishScript appends a channel's events.
// KEYS: meta, events, ids. ARGV: now (µs), the epoch of now
// (store.ChannelEpoch), history, age (µs), TTL (ms), then per event:
// notification ID, encoded notification.
// Returns per event its new offset, or minus the offset of the retained
// event its ID already has.
//
// The meta hash holds last, floor (the highest offset gone), first (the
// first offset of the current history), t (the newest event's append
// time: times never decrease along a channel, so the events older than
// the age are a prefix) and r (when the TTLs were last refreshed). A
// channel whose newest event aged out (or whose keys expired) starts a
// new history, above every offset it knows, at the epoch or above. The
// TTLs are refreshed every age/16, to age+age/8, so the keys outlive the
// newest event by the age at least, and an idle channel's vanish a little
// later.
var publishScript = redis.NewScript(`
local call, format = redis.call, string.format
local now, keep, age = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cutoff = now - age
local m = call('HMGET', KEYS[1], 'last', 'floor', 'first', 't', 'r')
local last, floor, first, t, r = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), tonumber(m[5])
local out, added = {}, false
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  if not last or not t or t < cutoff then
    local base = tonumber(ARGV[2])
    if last then
      if base <= last then base = last + 1 end
      floor = last
      call('DEL', KEYS[2], KEYS[3])
    else
      floor = base - 1
    end
    first, last, t, r = base, base - 1, now, nil
  end
  local c = last + 1
  local f = format('%d', c)
  local fresh = call('ZADD', KEYS[3], 'NX', f, id) == 1
  if not fresh then
    local old = call('ZSCORE', KEYS[3], id)
    local e = call('XRANGE', KEYS[2], old, old)
    if e[1] and tonumber(e[1][2][2]) >= cutoff then
      out[#out + 1] = -tonumber(old)
    else
      call('ZADD', KEYS[3], 'XX', f, id) -- its event aged out: a new one
      fresh = true
    end
  end
  if fresh then
    if t < now then t = now end
    call('XADD', KEYS[2], f .. '-0', 't', format('%d', t), 'n', ARGV[i + 1])
    last, added = c, true
    out[#out + 1] = c
  end
end
if not added then return out end
local low = math.max(floor, first - 1)
if last - low > keep then
  floor = last - keep
  call('XTRIM', KEYS[2], 'MINID', format('%d', floor + 1))
  call('ZREMRANGEBYSCORE', KEYS[3], '-inf', format('%d', floor))
end
if not r or now - r >= age / 16 or now < r then
  call('HSET', KEYS[1], 'last', format('%d', last), 'floor', format('%d', floor), 'first', format('%d', first), 't', format('%d', t), 'r', ARGV[1])
  for k = 1, 3 do call('PEXPIRE', KEYS[k], ARGV[5]) end
else
  call('HSET', KEYS[1], 'last', format('%d', last), 'floor', format('%d', floor), 'first', format('%d', first), 't', format('%d', t))
end
return out
`)

// Publish implements store.Channels. It returns once Redis holds the
// events (and WaitReplicas replicas, if set).
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

// channelBatches builds one script call per channel for the group's
// publishes, each notification encoded once.
func (g *group) channelBatches() []*chanBatch {
	if len(g.pubs) == 0 {
		return nil
	}
	var (
		batches []*chanBatch
		byChan  = make(map[notify.Channel]*chanBatch)
		o       = g.s.opts
		age     = o.ChannelHistoryAge
		ttl     = (age + age/8).Milliseconds()
	)
	for _, p := range g.pubs {
		body := encodeNotification(nil, p.pub.n)
		for i, ch := range p.pub.channels {
			b := byChan[ch]
			if b == nil {
				b = &chanBatch{ch: ch, call: &call{script: publishScript, keys: g.s.chanKeys(ch).all(),
					args: []any{micros(g.now), uint64(store.ChannelEpoch(g.now)), o.ChannelHistory, age.Microseconds(), ttl}}}
				byChan[ch] = b
				batches = append(batches, b)
			}
			b.call.args = append(b.call.args, p.pub.n.ID, body)
			b.refs = append(b.refs, chanRef{p: p, i: i})
		}
	}
	return batches
}

// collectChannels reads the offsets from the scripts' replies. Events a
// script stored go to the hook even if the Publish fails on another
// channel: they are visible.
func (g *group) collectChannels(batches []*chanBatch) {
	for _, b := range batches {
		err := b.call.err
		var offs []int64
		if err == nil {
			offs, err = b.call.cmd.Int64Slice()
		}
		if err == nil && len(offs) != len(b.refs) {
			err = fmt.Errorf("publish to %s: %d offsets for %d events", b.ch, len(offs), len(b.refs))
		}
		if err != nil {
			for _, r := range b.refs {
				if r.p.err == nil {
					r.p.err = err
				}
			}
			continue
		}
		for i, off := range offs {
			r := b.refs[i]
			if off < 0 {
				r.p.offsets[r.i] = notify.Cursor(-off)
				continue
			}
			r.p.offsets[r.i] = notify.Cursor(off)
			g.entries = append(g.entries, notify.Entry{User: b.ch.Key(), Cursor: notify.Cursor(off), Notification: r.p.pub.n})
		}
	}
}

// ChannelRead implements store.Channels. A limit of zero or less means
// DefaultReadLimit; expired notifications do not count toward it.
func (s *Store) ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error) {
	op := "read channel " + string(ch)
	m, msgs, events, err := s.chanPage(ctx, op, ch, strconv.FormatUint(uint64(after)+1, 10), &limit)
	if err != nil {
		return nil, err
	}
	last, floor, first := m.last, m.floor, m.first
	now := s.opts.Now()
	cutoff := micros(now.Add(-s.opts.ChannelHistoryAge))
	// Events older than the age are a prefix of the stream: the first one
	// after `after` tells whether any after it is gone.
	aged := false
	if len(msgs) > 0 {
		at, err := eventTime(msgs[0])
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		aged = at < cutoff
	}
	if aged || store.ChannelMissed(after, floor, first, last) {
		return nil, fmt.Errorf("store: %s after %d (retained %d..%d): %w", op, after, floor, last, notify.ErrCursorExpired)
	}
	return s.collect(ctx, ch, events, msgs, last, limit, func(e notify.Entry, _ redis.XMessage) (bool, error) {
		return !e.Notification.Expired(now), nil
	})
}

// collect turns msgs, the first page of an XRANGE of events up to the
// newest offset last, into up to limit entries that keep accepts, reading
// further pages while keep left room. A page shorter than limit was the
// stream's end.
func (s *Store) collect(ctx context.Context, ch notify.Channel, events string, msgs []redis.XMessage, last notify.Cursor, limit int, keep func(notify.Entry, redis.XMessage) (bool, error)) ([]notify.Entry, error) {
	op := "read channel " + string(ch)
	out := make([]notify.Entry, 0, min(len(msgs), limit))
	// Each page moves past at least one event; the bound only guards a
	// stream that keeps growing under the reader.
	for range maxPages {
		for _, msg := range msgs {
			e, err := eventEntry(ch, msg)
			if err != nil {
				return nil, fmt.Errorf("store: %s: %w", op, err)
			}
			if e.Cursor > last || len(out) == limit {
				return out, nil // the rest was published after the meta was read
			}
			ok, err := keep(e, msg)
			if err != nil {
				return nil, fmt.Errorf("store: %s: %w", op, err)
			}
			if ok {
				out = append(out, e)
			}
		}
		if len(out) == limit || len(msgs) < limit {
			return out, nil
		}
		next, _ := parseEventID(msgs[len(msgs)-1].ID)
		var err error
		msgs, err = s.rdb.XRangeN(ctx, events, strconv.FormatUint(uint64(next)+1, 10), "+", int64(limit)).Result()
		if err != nil {
			return nil, fail(op, err)
		}
		if len(msgs) == 0 {
			return out, nil
		}
	}
	return out, nil
}

// readMeta is what a channel read needs of the meta hash.
type readMeta struct{ last, floor, first notify.Cursor }

// chanPage reads ch's meta and its first page of events from start, in one
// transaction, for op; a limit of zero or less becomes DefaultReadLimit.
// It returns the events' key for the pages that follow.
func (s *Store) chanPage(ctx context.Context, op string, ch notify.Channel, start string, limit *int) (readMeta, []redis.XMessage, string, error) {
	if err := ctx.Err(); err != nil {
		return readMeta{}, nil, "", fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return readMeta{}, nil, "", err
	}
	if *limit <= 0 {
		*limit = DefaultReadLimit
	}
	k := s.chanKeys(ch)
	tx := s.rdb.TxPipeline()
	meta := tx.HMGet(ctx, k.meta, "last", "floor", "first")
	page := tx.XRangeN(ctx, k.events, start, "+", int64(*limit))
	if _, err := tx.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return readMeta{}, nil, "", fail(op, err)
	}
	var m [3]notify.Cursor
	for i, v := range meta.Val() {
		if v == nil {
			continue
		}
		str, _ := v.(string)
		c, err := strconv.ParseUint(str, 10, 64)
		if err != nil {
			return readMeta{}, nil, "", fmt.Errorf("store: %s: meta field %d %q: %w", op, i, str, errCorrupt)
		}
		m[i] = notify.Cursor(c)
	}
	return readMeta{last: m[0], floor: m[1], first: m[2]}, page.Val(), k.events, nil
}

// maxPages bounds the pages one channel read takes.
const maxPages = 1024

// ChannelHistory implements store.Channels: the events after the floor,
// less the prefix older than the age.
func (s *Store) ChannelHistory(ctx context.Context, ch notify.Channel, limit int) ([]notify.Entry, error) {
	op := "read channel " + string(ch) + " from its oldest event"
	m, msgs, events, err := s.chanPage(ctx, op, ch, "-", &limit)
	if err != nil {
		return nil, err
	}
	last, floor := m.last, m.floor
	now := s.opts.Now()
	cutoff := micros(now.Add(-s.opts.ChannelHistoryAge))
	// Trimmed below the floor but not yet deleted, older than the age, or
	// expired: not part of the history.
	return s.collect(ctx, ch, events, msgs, last, limit, func(e notify.Entry, msg redis.XMessage) (bool, error) {
		at, err := eventTime(msg)
		return err == nil && e.Cursor > floor && at >= cutoff && !e.Notification.Expired(now), err
	})
}

func parseEventID(id string) (notify.Cursor, error) {
	off, seq, ok := strings.Cut(id, "-")
	c, err := strconv.ParseUint(off, 10, 64)
	if !ok || seq != "0" || err != nil {
		return 0, fmt.Errorf("event ID %q: %w", id, errCorrupt)
	}
	return notify.Cursor(c), nil
}

func eventTime(msg redis.XMessage) (int64, error) {
	v, _ := msg.Values["t"].(string)
	at, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("event %s: time %q: %w", msg.ID, v, errCorrupt)
	}
	return at, nil
}

func eventEntry(ch notify.Channel, msg redis.XMessage) (notify.Entry, error) {
	off, err := parseEventID(msg.ID)
	if err != nil {
		return notify.Entry{}, err
	}
	v, _ := msg.Values["n"].(string)
	n, err := decodeNotification([]byte(v))
	if err != nil {
		return notify.Entry{}, fmt.Errorf("event %d: %w", off, err)
	}
	return notify.Entry{User: ch.Key(), Cursor: off, Notification: n}, nil
}

// ChannelLast implements store.Channels.
func (s *Store) ChannelLast(ctx context.Context, ch notify.Channel) (notify.Cursor, error) {
	op := "last of channel " + string(ch)
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return 0, err
	}
	v, err := s.rdb.HGet(ctx, s.chanKeys(ch).meta, "last").Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fail(op, err)
	}
	return notify.Cursor(v), nil
}
