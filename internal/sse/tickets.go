package sse

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/cors"
)

// ticketParam is the query parameter of a stream ticket.
const ticketParam = "ticket"

// redeem authenticates a stream by its ticket, or answers 401 (503 when
// the tickets cannot be read). A ticket is spent by this first use,
// whatever comes of the stream: a reconnect needs a new one.
func (h *Handler) redeem(w http.ResponseWriter, r *http.Request, ticket string) (*auth.Claims, bool) {
	var (
		c   auth.Claims
		ok  bool
		err error
	)
	if h.cfg.Tickets != nil {
		c, ok, err = h.cfg.Tickets.Redeem(r.Context(), ticket)
	}
	if err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "sse: tickets unavailable", "error", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "stream tickets cannot be checked now; retry")
		return nil, false
	}
	// The token the ticket was issued for may have expired since.
	if ok && !c.Expiry.IsZero() && !time.Now().Before(c.Expiry) {
		ok = false
	}
	if !ok {
		h.cfg.Logger.DebugContext(r.Context(), "sse: ticket refused", "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthenticated", "the ticket is unknown, used or expired; get a new one with POST /v1/stream-tickets")
		return nil, false
	}
	return &c, true
}

// ticketBody is the answer of POST /v1/stream-tickets.
type ticketBody struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"` // seconds
}

// TicketHandler serves POST /v1/stream-tickets: it exchanges the user token
// of the Authorization header (or of the cookie, on the terms the stream
// takes it) for a ticket that opens one stream, with the CORS of the
// stream. A token in the query string is refused here: tickets exist so
// that no token travels in a URL. Without Config.Tickets it answers 404.
func (h *Handler) TicketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.Tickets == nil {
			writeError(w, http.StatusNotFound, "not_found", "this server issues no stream tickets")
			return
		}
		allowed := h.cors.Apply(w.Header(), r)
		switch r.Method {
		case http.MethodPost:
		case http.MethodOptions:
			cors.Options(w, r, http.MethodPost, allowed)
			return
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		}
		token, ok := auth.TokenNotFromURL(r, h.cors.CookieAllowed(r))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "a user token is required in the Authorization header (Bearer)")
			return
		}
		claims, err := h.verify(r.Context(), token)
		if err != nil {
			h.cfg.Logger.DebugContext(r.Context(), "sse: token refused", "path", r.URL.Path, "error", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "the token is invalid or expired")
			return
		}
		ticket, ttl, err := h.cfg.Tickets.Issue(r.Context(), claims)
		if err != nil {
			h.cfg.Logger.WarnContext(r.Context(), "sse: no ticket issued", "user_id", string(claims.User), "error", err)
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "unavailable", "no stream ticket can be issued now; retry")
			return
		}
		body, _ := json.Marshal(ticketBody{Ticket: ticket, ExpiresIn: int64(ttl / time.Second)}) // strings and a number always marshal
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(body, '\n'))
	})
}
