package sse

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// Payloads of the control events. Browsers dispatch an event only if it has
// data, so each carries a small JSON object.
var (
	tokenExpiredData = []byte(`{"reason":"token_expired"}`)
	shutdownData     = []byte(`{"reason":"shutdown"}`)
)

// stream is one open response. Its fields are used by the request's
// goroutine only.
type stream struct {
	h   *Handler
	out sink
	// bw is borrowed from the handler's pool by begin and given back by
	// flush, so that an idle stream holds no write buffer.
	bw    *bufio.Writer
	enc   Encoder
	sub   *hub.Subscription
	user  notify.UserID
	path  string // the request's, for logs
	ctx   context.Context
	last  notify.Cursor // the newest cursor the client has, sent or reset to
	count int           // entries written since the last flush
	// known is set once last is the client's real position (a resume, or
	// an entry sent): only then does a jump in cursors mean a gap.
	known bool
	// noDeadline is set once the writer turned out not to support write
	// deadlines; asking again would allocate an error per batch.
	noDeadline bool
	deadline   time.Time // the write deadline set last
	wrote      time.Time // when the stream last began writing
}

// serveStream writes the stream's headers and runs it until it ends, then
// calls done. An HTTP/1 stream takes its connection over from net/http (see
// ownConn) and runs on a goroutine of its own, so serveStream returns at
// once; an HTTP/2 stream runs on the request's goroutine.
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, claims auth.Claims, after notify.Cursor, resume bool, done func()) {
	// Subscribe before reading the store: whatever commits from now on is
	// queued, and whatever committed before is in the store. Entries in both
	// are skipped by cursor.
	sub := h.cfg.Hub.Subscribe(claims.User, h.cfg.QueueSize)
	waitLive(r.Context(), h.cfg.WaitLive, claims.User, h.cfg.Logger)

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass frames through unbuffered
	hdr.Del("Content-Encoding")        // compression would hold frames back
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive") // a connection-specific header, forbidden in HTTP/2
	}

	rc := http.NewResponseController(w)
	s := &stream{
		h:     h,
		out:   response{w, rc},
		sub:   sub,
		user:  claims.User,
		path:  r.URL.Path,
		ctx:   r.Context(),
		last:  after,
		known: resume,
	}
	own, ok, err := takeOver(rc, r, hdr, &h.frames)
	if err != nil {
		// The connection is net/http's no more, and in no state to answer.
		h.cfg.Logger.WarnContext(r.Context(), "sse: taking over the connection failed", "user_id", string(claims.User), "error", err)
		sub.Close()
		done()
		return
	}
	if !ok {
		w.WriteHeader(http.StatusOK)
		s.serve(resume, claims.Expiry)
		// Give the server's final write (the end of the chunked body) a
		// fresh deadline; a past one would cut off a clean end.
		s.arm()
		done()
		return
	}
	// The request's context ends when this handler returns; the stream's
	// ends when the client leaves.
	ctx, gone := context.WithCancel(context.WithoutCancel(r.Context()))
	// The response writer holds net/http's connection state, buffers
	// included; nothing of it is needed any more.
	s.out, s.ctx = own, ctx
	go own.watch(gone)
	go func() {
		defer done()
		defer gone()
		s.serve(resume, claims.Expiry)
		s.arm()
		own.end()
	}()
}

// serve runs the stream and records why it ended.
func (s *stream) serve(resume bool, expiry time.Time) {
	h, sub := s.h, s.sub
	defer sub.Close()
	defer s.release()
	// Shutdown and a departed client end the subscription, so that the
	// stream waits on its Done alone; ended tells the reasons apart.
	defer context.AfterFunc(h.shutdown, sub.Close)()
	defer context.AfterFunc(s.ctx, sub.Close)()

	h.metrics.active.Inc()
	defer h.metrics.active.Dec()
	reason, err := s.run(resume, expiry)
	h.metrics.disconnects.WithLabelValues(reason).Inc()

	log := h.cfg.Logger
	if err != nil && reason != reasonClientGone {
		log.WarnContext(s.ctx, "sse: stream ended", "user_id", string(s.user), "reason", reason, "cursor", s.last.String(), "path", s.path, "error", err)
	} else if log.Enabled(s.ctx, slog.LevelDebug) {
		log.DebugContext(s.ctx, "sse: stream ended", "user_id", string(s.user), "reason", reason, "cursor", s.last.String(), "path", s.path)
	}
}

// liveWait bounds how long a new stream waits to be live; past it the
// stream starts anyway, and an entry missed in between arrives with the
// user's next one (gap fill) or on reconnect.
const liveWait = 2 * time.Second

func waitLive(ctx context.Context, wait func(context.Context, notify.UserID) error, user notify.UserID, log *slog.Logger) {
	if wait == nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, liveWait)
	defer cancel()
	if err := wait(wctx, user); err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "sse: stream starts before the bus confirmed its user", "user_id", string(user), "error", err)
	}
}

// run sends the retry frame, the replay and then live entries. It returns
// why the stream ended.
func (s *stream) run(resume bool, expiry time.Time) (string, error) {
	s.begin()
	s.enc.Retry(s.h.cfg.Retry)
	if err := s.flush(); err != nil {
		return s.writeFailed(err)
	}
	if resume {
		if reason, err := s.replay(); reason != "" {
			return reason, err
		}
	}
	return s.live(expiry)
}

// replay sends the stored entries after s.last, batch by batch, until the
// store has no more. Entries that commit meanwhile are both in the store and
// queued in the subscription; live skips those already sent.
func (s *stream) replay() (string, error) {
	for {
		// An empty read, not a short one, ends the replay: a store may
		// return fewer than asked while leaving out expired entries.
		entries, reason, err := s.readStored()
		if reason != "" || len(entries) == 0 {
			return reason, err
		}
		s.begin()
		for i := range entries {
			s.write(entries[i])
		}
		s.h.metrics.replayed.Add(float64(s.count))
		if err := s.flush(); err != nil {
			return s.writeFailed(err)
		}
		select {
		case <-s.sub.Done():
			return s.ended()
		default:
		}
	}
}

// reset tells the client that its cursor is older than the retained history
// and moves it to the newest cursor, from which the stream goes on live.
func (s *stream) reset() (string, error) {
	last, err := s.h.cfg.Store.Last(s.ctx, s.user)
	if err != nil {
		if s.ctx.Err() != nil {
			return reasonClientGone, nil
		}
		return reasonStoreError, err
	}
	data := make([]byte, 0, 64)
	data = append(data, `{"reason":"cursor_expired","cursor":`...)
	data = strconv.AppendQuote(data, last.String())
	data = append(data, '}')
	s.begin()
	s.enc.Event(true, last, notify.EventReset, data)
	s.last = last
	if err := s.flush(); err != nil {
		return s.writeFailed(err)
	}
	return "", nil
}

// live forwards queued entries until the stream ends. It takes everything
// queued at once, at most a queue's worth, so that a burst costs one write
// and one flush.
func (s *stream) live(expiry time.Time) (string, error) {
	// One timer for the heartbeat and the token's expiry, waking the loop
	// through a plain channel: a timer's own channel in the select costs
	// timer-heap work each time the stream parks and wakes, that is at
	// every event.
	wake := make(chan struct{}, 1)
	timer := time.AfterFunc(s.untilDue(time.Now(), expiry), func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	defer timer.Stop()
	ready, done := s.sub.Ready(), s.sub.Done()
	var batch []*notify.Entry
	for {
		select {
		case <-ready:
			// Everything queued goes out in one write and one flush.
			batch = s.sub.Take(batch)
			if len(batch) == 0 {
				continue
			}
			s.begin()
			for _, e := range batch {
				if reason, err := s.deliver(e); reason != "" {
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
			if !expiry.IsZero() && !now.Before(expiry) {
				s.begin()
				s.enc.Event(false, 0, notify.EventTokenExpired, tokenExpiredData)
				if err := s.flush(); err != nil {
					return s.writeFailed(err)
				}
				return reasonTokenExpired, nil
			}
			if now.Sub(s.wrote) >= s.h.cfg.Heartbeat {
				s.begin()
				s.enc.Comment("keep-alive")
				if err := s.flush(); err != nil {
					return s.writeFailed(err)
				}
			}
			timer.Reset(s.untilDue(now, expiry))
		case <-done:
			return s.ended()
		}
	}
}

// untilDue is the time from now to the next heartbeat, counted from the
// last write, or to the token's expiry if that comes first.
func (s *stream) untilDue(now, expiry time.Time) time.Duration {
	d := s.wrote.Add(s.h.cfg.Heartbeat).Sub(now)
	if !expiry.IsZero() {
		d = min(d, expiry.Sub(now))
	}
	return max(d, 0)
}

// deliver writes a live entry. In a cluster, live entries reach a node over
// a bus that may lose them or, coming from several nodes, reorder them: an
// entry beyond last+1 means the client misses some, which are read from
// the store and written first. On one node cursors arrive contiguous and
// this costs one comparison.
func (s *stream) deliver(e *notify.Entry) (string, error) {
	if e.Counts == nil && s.known && e.Cursor > s.last+1 {
		if reason, err := s.fill(e.Cursor); reason != "" {
			return reason, err
		}
	}
	s.write(*e)
	return "", nil
}

// readStored reads a batch of stored entries after s.last. When the
// cursor is older than the retained history it sends the reset instead and
// returns no entries; a non-empty reason means the stream must end.
func (s *stream) readStored() ([]notify.Entry, string, error) {
	cfg := &s.h.cfg
	entries, err := cfg.Store.Read(s.ctx, s.user, s.last, cfg.ReplayBatch)
	switch {
	case errors.Is(err, notify.ErrCursorExpired):
		reason, err := s.reset()
		return nil, reason, err
	case err != nil && s.ctx.Err() != nil:
		return nil, reasonClientGone, nil
	case err != nil:
		return nil, reasonStoreError, err
	}
	return entries, "", nil
}

// fill writes the stored entries after s.last and before target.
func (s *stream) fill(target notify.Cursor) (string, error) {
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
				s.h.metrics.replayed.Add(float64(s.count - before))
				return "", nil
			}
			s.write(entries[i])
		}
		s.h.metrics.replayed.Add(float64(s.count - before))
	}
	return "", nil
}

// write encodes e unless the client already has it. Read-state events
// have no cursor and always go out.
func (s *stream) write(e notify.Entry) {
	if s.bw == nil {
		s.begin() // a reset during gap fill flushed the buffer away
	}
	if e.Counts != nil {
		s.enc.Entry(e)
		s.count++
		return
	}
	if e.Cursor <= s.last {
		return
	}
	s.enc.Entry(e)
	s.last = e.Cursor
	s.known = true
	s.count++
}

// shutdown sends a jittered retry, so that clients spread their reconnects,
// and the shutdown event.
func (s *stream) shutdown() (string, error) {
	cfg := &s.h.cfg
	s.begin()
	s.enc.Retry(cfg.Retry + rand.N(cfg.ShutdownJitter))
	s.enc.Event(false, 0, notify.EventShutdown, shutdownData)
	if err := s.flush(); err != nil {
		return s.writeFailed(err)
	}
	return reasonShutdown, nil
}

// ended says why the subscription ended: shutdown and a departed client
// end it too (see serveStream).
func (s *stream) ended() (string, error) {
	switch {
	case s.h.shutdown.Err() != nil:
		return s.shutdown()
	case s.ctx.Err() != nil:
		return reasonClientGone, nil
	}
	return s.evicted()
}

// evicted ends a stream the hub dropped. It writes nothing: the client
// reconnects and resumes from its cursor.
func (s *stream) evicted() (string, error) {
	if errors.Is(s.sub.Err(), hub.ErrSlowConsumer) {
		return reasonSlowConsumer, nil
	}
	return reasonHubClosed, nil
}

func (s *stream) writeFailed(err error) (string, error) {
	if s.ctx.Err() != nil {
		return reasonClientGone, nil
	}
	return reasonWriteError, err
}

// begin prepares for frames: it borrows a write buffer and arms the write
// deadline (the buffered writer may write some frames before flush).
func (s *stream) begin() {
	if s.bw == nil {
		s.bw = s.h.bufs.Get().(*bufio.Writer)
		s.bw.Reset(s.out)
		s.enc.w = s.bw
	}
	s.arm()
}

// release gives the write buffer back, dropping anything unflushed.
func (s *stream) release() {
	if s.bw == nil {
		return
	}
	s.bw.Reset(nil)
	s.h.bufs.Put(s.bw)
	s.bw, s.enc.w = nil, nil
}

// arm sets the write deadline for what is about to be written and notes
// the time as the stream's last write. A deadline still at least half of
// WriteTimeout away is kept: moving it costs a timer update, which a busy
// stream would otherwise pay per event.
func (s *stream) arm() {
	now := time.Now()
	s.wrote = now
	if s.noDeadline || s.deadline.Sub(now) > s.h.cfg.WriteTimeout/2 {
		return
	}
	s.deadline = now.Add(s.h.cfg.WriteTimeout)
	// Not every ResponseWriter supports deadlines; those streams rely on the
	// server's own timeouts.
	if err := s.out.SetWriteDeadline(s.deadline); errors.Is(err, http.ErrNotSupported) {
		s.noDeadline = true
	}
}

// flush sends what is buffered to the client and gives the buffer back.
func (s *stream) flush() error {
	if s.bw != nil {
		err := s.bw.Flush()
		s.release()
		if err != nil {
			return err
		}
	}
	if err := s.out.Flush(); err != nil {
		return err
	}
	if s.count > 0 {
		s.h.metrics.sent.Add(float64(s.count))
		s.count = 0
	}
	return nil
}
