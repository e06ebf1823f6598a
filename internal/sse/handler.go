// Package sse serves GET /v1/stream: a user's notifications as Server-Sent
// Events. A request is authenticated, optionally resumed from a cursor
// (`Last-Event-ID` header or `lastEventId` query parameter) by replaying the
// inbox from the store, and then kept open for live entries from the hub,
// with no gap and no duplicate between the two.
//
// The wire format is DESIGN.md's: a `retry:` frame first, then one
// `id:`/`event:`/`data:` frame per entry, `: keep-alive` comments when idle,
// and the control events `reset` (the cursor is older than retained
// history), `token-expired` and `shutdown`, each with a JSON `data:` so that
// browsers dispatch them.
package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/cors"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// Handler is the SSE endpoint. It is an http.Handler; Shutdown ends its
// streams.
type Handler struct {
	cfg    Config
	engine *resume.Engine
	cors   *cors.Policy

	// bufs holds the streams' write buffers between flushes, and frames
	// the buffers a stream that serves its own connection frames a write
	// in (see ownConn).
	bufs, frames sync.Pool
}

// NewHandler returns a handler for cfg. Store, Hub and Verifier must be set.
func NewHandler(cfg Config) *Handler {
	cfg.setDefaults()
	h := &Handler{
		cfg: cfg,
		engine: resume.New(resume.Config{
			Source:      resume.Stored{Store: cfg.Store, Channels: cfg.Channels, Hub: cfg.Hub},
			WaitLive:    cfg.WaitLive,
			Limiter:     cfg.Streams,
			Heartbeat:   cfg.Heartbeat,
			QueueSize:   cfg.QueueSize,
			ReplayBatch: cfg.ReplayBatch,
			Metrics:     newMetrics(cfg.Registerer, cfg.Logger),
			Logger:      cfg.Logger.With("transport", "sse"),
		}),
		cors: cors.New(cfg.AllowedOrigins),
	}
	h.bufs.New = func() any { return bufio.NewWriterSize(nil, 4<<10) }
	h.frames.New = func() any { b := make([]byte, 0, 4<<10+64); return &b }
	return h
}

// ServeHTTP authenticates the request and streams the caller's own entries,
// and the channels asked for with `channels=a,b` that the caller may listen
// to; whatever user IDs the request names, it gets only the token's user. A
// request with no token may stream anonymous channels, and nothing else.
//
// `events=message` sends every entry as the default event, for clients
// with one handler for all (EventSource.onmessage); `events=typed`, the
// default, names each after its type.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	allowed := h.cors.Apply(w.Header(), r)
	switch r.Method {
	case http.MethodGet:
	case http.MethodOptions:
		cors.Options(w, r, http.MethodGet, allowed)
		return
	default:
		w.Header().Set("Allow", "GET, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}

	var message bool
	switch r.URL.Query().Get("events") {
	case "", "typed":
	case "message":
		message = true
	default:
		writeError(w, http.StatusBadRequest, "invalid_argument", "events: want typed (the default: each event named after its type) or message (every notification as the default event)")
		return
	}
	names := channelNames(r)
	if len(names) > 0 && h.cfg.Channels == nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", "this server streams no channels")
		return
	}
	claims, ok := h.authenticate(w, r, len(names) > 0)
	if !ok {
		return
	}
	channels, err := h.cfg.ChannelPolicy.Listen(claims, names, h.cfg.MaxChannels)
	if err != nil {
		h.refuseChannels(w, claims, err)
		return
	}
	after, resumed, err := cursorFrom(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_cursor", "Last-Event-ID is not a cursor of this stream")
		return
	}
	req := resume.Request{Channels: channels, After: after, Resume: resumed}
	if claims != nil {
		req.User, req.Expiry = claims.User, claims.Expiry
	}
	st, err := h.engine.Open(r.Context(), req)
	switch {
	case errors.Is(err, resume.ErrTooManyStreams):
		// Refused rather than closing an older stream: see package limit.
		writeError(w, http.StatusTooManyRequests, "resource_exhausted", "too many open streams for this user; close one first")
		return
	case errors.Is(err, resume.ErrChannelClash):
		writeError(w, http.StatusBadRequest, "invalid_argument", err.Error()+"; stream them apart")
		return
	case err != nil:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "server is shutting down")
		return
	}
	h.serveStream(w, r, st, message)
}

// channelNames returns the channels the request asks for: `channels`,
// comma-separated, and repeatable.
func channelNames(r *http.Request) []string {
	var names []string
	for _, v := range r.URL.Query()["channels"] {
		for name := range strings.SplitSeq(v, ",") {
			if name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

// refuseChannels answers a refused channel list. Channel names are echoed
// only once valid (ASCII letters, digits and ._-/:), never a raw input.
func (h *Handler) refuseChannels(w http.ResponseWriter, claims *auth.Claims, err error) {
	switch {
	case errors.Is(err, auth.ErrChannelDenied) && claims == nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		writeError(w, http.StatusUnauthorized, "unauthenticated", "a user token is required: "+err.Error())
	case errors.Is(err, auth.ErrChannelDenied):
		writeError(w, http.StatusForbidden, "permission_denied", err.Error())
	case errors.Is(err, notify.ErrBadChannel):
		writeError(w, http.StatusBadRequest, "invalid_argument", "channels: "+err.Error()+" (names are ASCII letters, digits and ._-/:, at most 200 bytes)")
	default:
		writeError(w, http.StatusBadRequest, "invalid_argument", "channels: "+err.Error())
	}
}

// authenticate verifies the request's ticket or token, or answers 401. A
// `ticket` query parameter, when present, is the one credential looked at.
// The cookie counts only on a same-origin request or one from a listed
// origin. Neither the token nor the query string that may carry it is ever
// logged or echoed. A request without a token that asks for channels goes
// on with nil claims, for the channel policy to judge.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, channels bool) (*auth.Claims, bool) {
	if t := r.URL.Query().Get(ticketParam); t != "" {
		return h.redeem(w, r, t)
	}
	tokenFrom := auth.TokenFromRequest
	if !h.cors.CookieAllowed(r) {
		tokenFrom = auth.TokenWithoutCookie
	}
	token, ok := tokenFrom(r)
	if !ok && channels {
		return nil, true
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		writeError(w, http.StatusUnauthorized, "unauthenticated", "a user token is required")
		return nil, false
	}
	claims, err := h.verify(r.Context(), token)
	if err != nil {
		h.cfg.Logger.DebugContext(r.Context(), "sse: token refused", "path", r.URL.Path, "error", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthenticated", "the token is invalid or expired")
		return nil, false
	}
	return &claims, true
}

// verify checks a user token.
func (h *Handler) verify(ctx context.Context, token string) (auth.Claims, error) {
	claims, err := h.cfg.Verifier.Verify(ctx, token)
	if err == nil && claims.User == "" {
		err = errors.New("token names no user")
	}
	if err == nil && !claims.Expiry.IsZero() && !time.Now().Before(claims.Expiry) {
		err = errors.New("token expired")
	}
	return claims, err
}

// cursorFrom returns the resume cursor: the Last-Event-ID header, which
// browsers send on reconnect, wins over the lastEventId query parameter.
// resume is false when neither is given: the stream is then live only.
func cursorFrom(r *http.Request) (p resume.Position, resumed bool, err error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("lastEventId")
	}
	if s == "" {
		return resume.Position{}, false, nil
	}
	p, err = resume.ParsePosition(s)
	if err != nil {
		return resume.Position{}, false, fmt.Errorf("sse: cursor: %w", err)
	}
	return p, true, nil
}

// Shutdown refuses new streams, tells every open stream to reconnect after a
// jittered delay (to another node, or to this one once it is back), and waits
// until they have closed or ctx is done.
func (h *Handler) Shutdown(ctx context.Context) error {
	if err := h.engine.Shutdown(ctx); err != nil {
		return fmt.Errorf("sse: %w", err)
	}
	return nil
}
