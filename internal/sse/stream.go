package sse

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// Payloads of the control events. Browsers dispatch an event only if it has
// data, so each carries a small JSON object.
var (
	tokenExpiredData = []byte(`{"reason":"token_expired"}`)
	shutdownData     = []byte(`{"reason":"shutdown"}`)
)

// writer is a stream's resume.Sink: it encodes a batch into a write buffer
// and sends it in one write and one flush. Its fields are used by the
// stream's goroutine only.
type writer struct {
	h   *Handler
	out sink
	// bw is borrowed from the handler's pool by Begin and given back by
	// Flush, so that an idle stream holds no write buffer.
	bw  *bufio.Writer
	enc Encoder
	// message sends entries as default events (events=message).
	message bool
	// noDeadline is set once the writer turned out not to support write
	// deadlines; asking again would allocate an error per batch.
	noDeadline bool
	deadline   time.Time // the write deadline set last
}

// serveStream writes the stream's headers and runs it until it ends. An
// HTTP/1 stream takes its connection over from net/http (see ownConn) and
// runs on a goroutine of its own, so serveStream returns at once; an HTTP/2
// stream runs on the request's goroutine.
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, st *resume.Stream, message bool) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass frames through unbuffered
	hdr.Del("Content-Encoding")        // compression would hold frames back
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive") // a connection-specific header, forbidden in HTTP/2
	}

	rc := http.NewResponseController(w)
	out := &writer{h: h, out: response{w, rc}, message: message}
	own, ok, err := takeOver(rc, r, hdr, &h.frames)
	if err != nil {
		// The connection is net/http's no more, and in no state to answer.
		h.cfg.Logger.WarnContext(r.Context(), "sse: taking over the connection failed", "user_id", string(st.User()), "error", err)
		st.Abort()
		return
	}
	if !ok {
		w.WriteHeader(http.StatusOK)
		out.run(r.Context(), st)
		// Give the server's final write (the end of the chunked body) a
		// fresh deadline; a past one would cut off a clean end.
		out.arm(time.Now())
		return
	}
	// The request's context ends when this handler returns; the stream's
	// ends when the client leaves.
	ctx, gone := context.WithCancel(context.WithoutCancel(r.Context()))
	// The response writer holds net/http's connection state, buffers
	// included; nothing of it is needed any more.
	out.out = own
	go own.watch(gone)
	go func() {
		defer gone()
		out.run(ctx, st)
		out.arm(time.Now())
		own.end()
	}()
}

// run serves st and gives the write buffer back.
func (w *writer) run(ctx context.Context, st *resume.Stream) {
	defer w.release()
	_, _ = st.Run(ctx, w) // the engine logs and counts why it ended
}

// Begin implements resume.Sink: it borrows a write buffer and arms the write
// deadline (the buffered writer may write some frames before Flush).
func (w *writer) Begin(now time.Time) {
	if w.bw == nil {
		w.bw = w.h.bufs.Get().(*bufio.Writer)
		w.bw.Reset(w.out)
		w.enc.w = w.bw
	}
	w.arm(now)
}

// Entry implements resume.Sink.
func (w *writer) Entry(e *notify.Entry, id []byte) {
	if w.message {
		w.enc.Message(*e, id)
		return
	}
	w.enc.Entry(*e, id)
}

// Heartbeat implements resume.Sink: a comment, which clients ignore.
func (w *writer) Heartbeat() { w.enc.Comment("keep-alive") }

// Control implements resume.Sink.
func (w *writer) Control(c resume.Control) {
	cfg := &w.h.cfg
	switch c.Kind {
	case resume.Open:
		w.enc.Retry(cfg.Retry)
	case resume.Reset:
		// cursor is the stream's, to resume from after the refetch;
		// channel names the source to refetch (none: the inbox).
		data := make([]byte, 0, 64+len(c.ID)+len(c.Channel))
		data = append(data, `{"reason":"cursor_expired","cursor":`...)
		data = strconv.AppendQuote(data, string(c.ID))
		if c.Channel != "" {
			data = append(data, `,"channel":`...)
			data = strconv.AppendQuote(data, string(c.Channel))
		}
		data = append(data, '}')
		w.enc.Event(c.ID, notify.EventReset, data)
	case resume.TokenExpired:
		w.enc.Event(nil, notify.EventTokenExpired, tokenExpiredData)
	case resume.Shutdown:
		// A jittered retry first, so that clients spread their reconnects.
		w.enc.Retry(cfg.Retry + rand.N(cfg.ShutdownJitter))
		w.enc.Event(nil, notify.EventShutdown, shutdownData)
	}
}

// Flush implements resume.Sink: it sends what is buffered to the client and
// gives the buffer back.
func (w *writer) Flush() error {
	if w.bw != nil {
		err := w.bw.Flush()
		w.release()
		if err != nil {
			return err
		}
	}
	return w.out.Flush()
}

// release gives the write buffer back, dropping anything unflushed.
func (w *writer) release() {
	if w.bw == nil {
		return
	}
	w.bw.Reset(nil)
	w.h.bufs.Put(w.bw)
	w.bw, w.enc.w = nil, nil
}

// arm sets the write deadline for what is about to be written. A deadline
// still at least half of WriteTimeout away is kept: moving it costs a timer
// update, which a busy stream would otherwise pay per event.
func (w *writer) arm(now time.Time) {
	if w.noDeadline || w.deadline.Sub(now) > w.h.cfg.WriteTimeout/2 {
		return
	}
	w.deadline = now.Add(w.h.cfg.WriteTimeout)
	// Not every ResponseWriter supports deadlines; those streams rely on the
	// server's own timeouts.
	if err := w.out.SetWriteDeadline(w.deadline); errors.Is(err, http.ErrNotSupported) {
		w.noDeadline = true
	}
}
