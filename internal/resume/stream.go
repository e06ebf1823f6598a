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
	resume  bool
	expiry  time.Time

	ctx  context.Context
	out  Sink
	last notify.Cursor // the newest cursor the client has, sent or reset to
	// known is set once last is the client's real position (a resume, or
	// an entry sent): only then does a jump in cursors mean a gap.
	known bool
	sent  sentRing  // the last entries sent, to tell reused cursors
	open  bool      // a batch is begun and not flushed
	count int       // entries added since the last flush
	wrote time.Time // when the last batch began
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
		log.WarnContext(ctx, "stream ended", "user_id", string(s.user), "reason", string(reason), "cursor", s.last.String(), "error", err)
	} else if log.Enabled(ctx, slog.LevelDebug) {
		log.DebugContext(ctx, "stream ended", "user_id", string(s.user), "reason", string(reason), "cursor", s.last.String())
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
	if s.resume {
		if reason, err := s.replay(); reason != "" {
			return reason, err
		}
	}
	return s.live()
}

// replay sends the stored entries after s.last, batch by batch, until the
// store has no more. Entries that commit meanwhile are both in the store and
// queued in the feed; live skips those already sent.
func (s *Stream) replay() (Reason, error) {
	for {
		// An empty read, not a short one, ends the replay: a store may
		// return fewer than asked while leaving out expired entries.
		entries, reason, err := s.readStored()
		if reason != "" || len(entries) == 0 {
			return reason, err
		}
		s.begin()
		before := s.count
		for i := range entries {
			s.write(&entries[i])
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

// deliver adds a live entry. In a cluster, live entries reach a node over a
// bus that may lose them or, coming from several nodes, reorder them: an
// entry beyond last+1 means the client misses some, which are read from the
// store and added first. On one node cursors arrive contiguous and this
// costs one comparison.
func (s *Stream) deliver(en *notify.Entry) (Reason, error) {
	if en.Counts == nil && s.known {
		switch {
		case en.Cursor > s.last+1:
			if reason, err := s.fill(en.Cursor); reason != "" {
				return reason, err
			}
		case en.Cursor <= s.last && s.sent.reused(en):
			// The store's counter went back (see sentRing): the client
			// refetches from the reset's cursor, which covers en.
			s.e.cfg.Metrics.reused.Inc()
			return s.reset()
		}
	}
	s.write(en)
	return "", nil
}

// readStored reads a batch of stored entries after s.last. When the cursor
// is older than the retained history it sends the reset instead and returns
// no entries; a non-empty reason means the stream must end.
func (s *Stream) readStored() ([]notify.Entry, Reason, error) {
	cfg := &s.e.cfg
	entries, err := cfg.Source.Read(s.ctx, s.user, s.last, cfg.ReplayBatch)
	switch {
	case errors.Is(err, notify.ErrCursorExpired):
		reason, err := s.reset()
		return nil, reason, err
	case err != nil && s.ctx.Err() != nil:
		return nil, ReasonClientGone, nil
	case err != nil:
		return nil, ReasonStoreError, err
	}
	return entries, "", nil
}

// reset tells the client that its cursor is older than the retained history
// and moves it to the newest cursor, from which the stream goes on live.
// What the batch holds so far goes out first.
func (s *Stream) reset() (Reason, error) {
	last, err := s.e.cfg.Source.Last(s.ctx, s.user)
	if err != nil {
		if s.ctx.Err() != nil {
			return ReasonClientGone, nil
		}
		return ReasonStoreError, err
	}
	s.begin()
	s.out.Control(Control{Kind: Reset, Cursor: last})
	s.last = last
	// The client refetches everything up to last: an entry it was sent
	// before no longer tells a reused cursor, and one up to last that
	// arrives now is in the refetch.
	s.sent = sentRing{}
	if err := s.flush(); err != nil {
		return s.writeFailed(err)
	}
	return "", nil
}

// fill adds the stored entries after s.last and before target.
func (s *Stream) fill(target notify.Cursor) (Reason, error) {
	for s.last < target-1 {
		// Expired entries are left out, so the store may have nothing
		// more before target.
		entries, reason, err := s.readStored()
		if reason != "" || len(entries) == 0 {
			return reason, err
		}
		before := s.count
		for i := range entries {
			if entries[i].Cursor >= target {
				break
			}
			s.write(&entries[i])
		}
		s.e.cfg.Metrics.replayed.Add(float64(s.count - before))
		if n := len(entries); entries[n-1].Cursor >= target {
			return "", nil
		}
	}
	return "", nil
}

// write adds en unless the client already has it. Read-state events have
// no cursor and always go out.
func (s *Stream) write(en *notify.Entry) {
	if !s.open {
		s.begin() // a reset during gap fill flushed the batch
	}
	if en.Counts == nil {
		if en.Cursor <= s.last {
			return
		}
		s.last = en.Cursor
		s.known = true
		s.sent.add(en)
	}
	s.out.Entry(en)
	s.count++
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
