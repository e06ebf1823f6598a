package resume

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// Stream is one open stream. Its fields are used by the goroutine running
// it only.
type Stream struct {
	e       *Engine
	feed    Feed
	release func()
	user    notify.UserID
	expiry  time.Time

	ctx context.Context
	out Sink
	// srcs are the stream's sources: the inbox first (unless the stream
	// has none), then its channels in ascending hash order. A stream of
	// one source keeps it in one, saving an allocation.
	srcs []source
	one  [1]source
	// multi streams carry channels or no inbox, and their cursor is a
	// Position's full wire form; the others' is the plain inbox cursor.
	multi bool
	id    []byte    // the cursor of the last event, reused
	open  bool      // a batch is begun and not flushed
	count int       // entries added since the last flush
	wrote time.Time // when the last batch began
}

// source is where a stream's client is in one of its sources.
type source struct {
	key     notify.UserID  // the user, or the channel's Key
	channel notify.Channel // empty for the inbox
	hash    uint32         // ChannelHash of channel
	resume  bool           // replay from last before going live
	last    notify.Cursor  // the newest position the client has, sent or reset to
	// known is set once last is the client's real position (a resume, a
	// start at the newest, or an entry sent): only then does a jump in
	// positions mean a gap.
	known bool
	sent  sentRing // the last entries sent, to tell reused positions
	// checked is the position wentBack last compared with the store.
	checked notify.Cursor
}

// User is the stream's user.
func (s *Stream) User() notify.UserID { return s.user }

// Abort ends a stream that Run will not serve.
func (s *Stream) Abort() {
	s.feed.Close()
	s.release()
	s.e.streams.Done()
}

// Run serves the stream through out until it ends, which it does when ctx
// ends (the client left), the feed is evicted, the token expires, the
// engine shuts down or a write fails; it returns why, with the error
// behind a write or store failure. Run releases the stream's slot.
func (s *Stream) Run(ctx context.Context, out Sink) (Reason, error) {
	e, feed := s.e, s.feed
	defer s.Abort()
	// Shutdown and a departed client end the feed, so that the stream
	// waits on its Done alone; ended tells the reasons apart.
	defer context.AfterFunc(e.shutdown, feed.Close)()
	defer context.AfterFunc(ctx, feed.Close)()
	s.ctx, s.out = ctx, out

	m := e.cfg.Metrics
	m.active.Inc()
	defer m.active.Dec()
	reason, err := s.run()
	m.disconnected(reason)

	log := e.cfg.Logger
	if err != nil && reason != ReasonClientGone {
		log.WarnContext(ctx, "stream ended", "user_id", string(s.user), "reason", string(reason), "cursor", string(s.appendID(nil)), "error", err)
	} else if log.Enabled(ctx, slog.LevelDebug) {
		log.DebugContext(ctx, "stream ended", "user_id", string(s.user), "reason", string(reason), "cursor", string(s.appendID(nil)))
	}
	return reason, err
}

// run opens the stream, replays and goes live.
func (s *Stream) run() (Reason, error) {
	s.begin()
	s.out.Control(Control{Kind: Open})
	if err := s.flush(); err != nil {
		return s.writeFailed(err)
	}
	for i := range s.srcs {
		if s.srcs[i].resume {
			if reason, err := s.replay(&s.srcs[i]); reason != "" {
				return reason, err
			}
		}
	}
	return s.live()
}

// replay sends the stored entries of src after its position, batch by
// batch, until the store has no more. Entries that commit meanwhile are
// both in the store and queued in the feed; live skips those already sent.
// Sources replay one after the other, each in its own order.
func (s *Stream) replay(src *source) (Reason, error) {
	for {
		// An empty read, not a short one, ends the replay: a store may
		// return fewer than asked while leaving out expired entries.
		entries, reason, err := s.readStored(src)
		if reason != "" || len(entries) == 0 {
			return reason, err
		}
		s.begin()
		before := s.count
		for i := range entries {
			s.write(src, &entries[i])
		}
		s.e.cfg.Metrics.replayed.Add(float64(s.count - before))
		if err := s.flush(); err != nil {
			return s.writeFailed(err)
		}
		select {
		case <-s.feed.Done():
			return s.ended()
		default:
		}
	}
}

// live forwards queued entries until the stream ends. It takes everything
// queued at once, at most a queue's worth, so that a burst costs one batch.
func (s *Stream) live() (Reason, error) {
	// One timer for the heartbeat and the token's expiry, waking the loop
	// through a plain channel: a timer's own channel in the select costs
	// timer-heap work each time the stream parks and wakes, that is at
	// every event.
	wake := make(chan struct{}, 1)
	if d, ok := s.untilDue(time.Now()); ok {
		timer := time.AfterFunc(d, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		defer timer.Stop()
		return s.loop(wake, timer)
	}
	return s.loop(nil, nil) // nothing ever due: a nil wake never fires
}

func (s *Stream) loop(wake <-chan struct{}, timer *time.Timer) (Reason, error) {
	ready, done := s.feed.Ready(), s.feed.Done()
	var batch []*notify.Entry
	for {
		select {
		case <-ready:
			// Everything queued goes out in one batch.
			batch = s.feed.Take(batch)
			if len(batch) == 0 {
				continue
			}
			s.begin()
			for _, en := range batch {
				if reason, err := s.deliver(en); reason != "" {
					return reason, err
				}
			}
			if err := s.flush(); err != nil {
				return s.writeFailed(err)
			}
		case <-wake:
			// Writes do not move the timer, which would cost a timer
			// update per event: an early wake re-arms for the rest.
			now := time.Now()
			if !s.expiry.IsZero() && !now.Before(s.expiry) {
				s.begin()
				s.out.Control(Control{Kind: TokenExpired})
				if err := s.flush(); err != nil {
					return s.writeFailed(err)
				}
				return ReasonTokenExpired, nil
			}
			if hb := s.e.cfg.Heartbeat; hb > 0 && now.Sub(s.wrote) >= hb {
				s.begin()
				s.out.Heartbeat()
				if err := s.flush(); err != nil {
					return s.writeFailed(err)
				}
			}
			d, _ := s.untilDue(now)
			timer.Reset(d)
		case <-done:
			return s.ended()
		}
	}
}

// untilDue is the time from now to the next heartbeat, counted from the
// last batch, or to the token's expiry if that comes first; ok is false
// when neither is ever due.
func (s *Stream) untilDue(now time.Time) (d time.Duration, ok bool) {
	hb := s.e.cfg.Heartbeat
	switch {
	case hb > 0 && !s.expiry.IsZero():
		d = min(s.wrote.Add(hb).Sub(now), s.expiry.Sub(now))
	case hb > 0:
		d = s.wrote.Add(hb).Sub(now)
	case !s.expiry.IsZero():
		d = s.expiry.Sub(now)
	default:
		return 0, false
	}
	return max(d, 0), true
}

// sourceOf returns the source of en's key; nil for an entry of no source of
// the stream, which the hub does not hand it.
func (s *Stream) sourceOf(en *notify.Entry) *source {
	if len(s.srcs) == 1 {
		return &s.srcs[0]
	}
	for i := range s.srcs {
		if s.srcs[i].key == en.User {
			return &s.srcs[i]
		}
	}
	return nil
}

// deliver adds a live entry. In a cluster, live entries reach a node over a
// bus that may lose them or, coming from several nodes, reorder them: an
// entry beyond last+1 means the client misses some, which are read from the
// store and added first. On one node an inbox's cursors arrive contiguous
// and this costs one comparison.
func (s *Stream) deliver(en *notify.Entry) (Reason, error) {
	src := s.sourceOf(en)
	if src == nil {
		return "", nil
	}
	if en.Counts == nil && src.known {
		switch {
		case en.Cursor > src.last+1:
			if reason, err := s.fill(src, en.Cursor); reason != "" {
				return reason, err
			}
		case en.Cursor <= src.last && s.reused(src, en):
			// The store's counter went back (see sentRing): the client
			// refetches from the reset's cursor, which covers en.
			s.e.cfg.Metrics.reused.Inc()
			return s.reset(src)
		}
	}
	s.write(src, en)
	return "", nil
}

// reused reports whether en, at or below src's position, is under a cursor
// the store reused rather than a duplicate (see sentRing): sent with another
// notification, or, older than the ring, arriving while the store no longer
// holds what was sent under src's position.
func (s *Stream) reused(src *source, en *notify.Entry) bool {
	if id, ok := src.sent.sentAt(en.Cursor); ok {
		return id != idHash(en.Notification)
	}
	return s.wentBack(src)
}

// wentBack reports whether the store's entry at src's position is not the
// one sent under it: gone with a counter that went back below it, or
// another notification. It reads the store once per position: duplicates
// older than the ring come in runs (those queued during a replay), and one
// answer serves the run. A position the ring no longer knows (after a
// reset) and a read that fails count as not gone back, as before the check.
func (s *Stream) wentBack(src *source) bool {
	if src.checked == src.last {
		return false
	}
	sent, ok := src.sent.sentAt(src.last)
	if !ok {
		return false
	}
	src.checked = src.last
	got, err := s.e.cfg.Source.Read(s.ctx, src.key, src.last-1, 1)
	switch {
	case errors.Is(err, notify.ErrCursorExpired):
		// Trimmed away, or ahead of the store's newest: which one, the
		// store's newest tells.
		newest, err := s.e.cfg.Source.Last(s.ctx, src.key)
		return err == nil && newest < src.last
	case err != nil || len(got) == 0 || got[0].Cursor != src.last:
		// Expired or trimmed since: an entry after it proves the counter
		// passed it.
		return false
	}
	return idHash(got[0].Notification) != sent
}

// readStored reads a batch of src's stored entries after its position.
// When the position is older than the retained history it sends the reset
// instead and returns no entries; a non-empty reason means the stream must
// end.
func (s *Stream) readStored(src *source) ([]notify.Entry, Reason, error) {
	cfg := &s.e.cfg
	entries, err := cfg.Source.Read(s.ctx, src.key, src.last, cfg.ReplayBatch)
	switch {
	case errors.Is(err, notify.ErrCursorExpired):
		reason, err := s.reset(src)
		return nil, reason, err
	case err != nil && s.ctx.Err() != nil:
		return nil, ReasonClientGone, nil
	case err != nil:
		return nil, ReasonStoreError, err
	}
	return entries, "", nil
}

// reset tells the client that its position in src is older than the
// retained history and moves it to src's newest position, from which src
// goes on live; the other sources go on where they are. What the batch
// holds so far goes out first.
func (s *Stream) reset(src *source) (Reason, error) {
	last, err := s.e.cfg.Source.Last(s.ctx, src.key)
	if err != nil {
		if s.ctx.Err() != nil {
			return ReasonClientGone, nil
		}
		return ReasonStoreError, err
	}
	s.begin()
	src.last, src.known = last, true
	// The client refetches everything up to last: an entry it was sent
	// before no longer tells a reused cursor, and one up to last that
	// arrives now is in the refetch.
	src.sent = sentRing{}
	s.id = s.appendID(s.id[:0])
	s.out.Control(Control{Kind: Reset, Cursor: last, Channel: src.channel, ID: s.id})
	if err := s.flush(); err != nil {
		return s.writeFailed(err)
	}
	return "", nil
}

// fill adds src's stored entries after its position and before target.
func (s *Stream) fill(src *source, target notify.Cursor) (Reason, error) {
	for src.last < target-1 {
		// Expired entries are left out, so the store may have nothing
		// more before target.
		entries, reason, err := s.readStored(src)
		if reason != "" || len(entries) == 0 {
			return reason, err
		}
		before := s.count
		for i := range entries {
			if entries[i].Cursor >= target {
				break
			}
			s.write(src, &entries[i])
		}
		s.e.cfg.Metrics.replayed.Add(float64(s.count - before))
		if n := len(entries); entries[n-1].Cursor >= target {
			return "", nil
		}
	}
	return "", nil
}

// write adds en, of src, unless the client already has it. Read-state
// events have no cursor and always go out.
func (s *Stream) write(src *source, en *notify.Entry) {
	if !s.open {
		s.begin() // a reset during gap fill flushed the batch
	}
	if en.Counts != nil {
		s.out.Entry(en, nil)
		s.count++
		return
	}
	if en.Cursor <= src.last {
		return
	}
	src.last = en.Cursor
	src.known = true
	src.sent.add(en)
	s.id = s.appendID(s.id[:0])
	s.out.Entry(en, s.id)
	s.count++
}

// appendID appends the stream's cursor: where the client is in each source.
func (s *Stream) appendID(b []byte) []byte {
	if !s.multi {
		return s.srcs[0].last.AppendTo(b)
	}
	srcs := s.srcs
	if srcs[0].channel == "" {
		b = srcs[0].last.AppendTo(b)
		srcs = srcs[1:]
	}
	for i := range srcs {
		b = appendChannel(b, srcs[i].hash, srcs[i].last)
	}
	return b
}

// ended says why the feed ended: shutdown and a departed client end it too
// (see Run).
func (s *Stream) ended() (Reason, error) {
	switch {
	case s.e.shutdown.Err() != nil:
		s.begin()
		s.out.Control(Control{Kind: Shutdown})
		if err := s.flush(); err != nil {
			return s.writeFailed(err)
		}
		return ReasonShutdown, nil
	case s.ctx.Err() != nil:
		return ReasonClientGone, nil
	case errors.Is(s.feed.Err(), hub.ErrSlowConsumer):
		// Nothing is written: the client reconnects and resumes from its
		// cursor.
		return ReasonSlowConsumer, nil
	}
	return ReasonHubClosed, nil
}

// writeFailed tells a client that left from a write that failed; a write
// that timed out (ErrWriteTimeout as the context's cause) is a write error.
func (s *Stream) writeFailed(err error) (Reason, error) {
	if s.ctx.Err() != nil && !errors.Is(context.Cause(s.ctx), ErrWriteTimeout) {
		return ReasonClientGone, nil
	}
	return ReasonWriteError, err
}

func (s *Stream) begin() {
	now := time.Now()
	s.wrote = now
	s.open = true
	s.out.Begin(now)
}

// flush sends the batch and counts its entries.
func (s *Stream) flush() error {
	s.open = false
	if err := s.out.Flush(); err != nil {
		return err
	}
	if s.count > 0 {
		s.e.cfg.Metrics.sent.Add(float64(s.count))
		s.count = 0
	}
	return nil
}
