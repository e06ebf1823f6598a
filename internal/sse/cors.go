package sse

import (
	"net/http"
	"slices"
)

// cors answers cross-origin requests from an allow-list. Allowed origins are
// echoed rather than answered with "*", because EventSource may be created
// withCredentials to send the token cookie, and browsers refuse "*" then.
type cors struct {
	any     bool
	origins map[string]struct{}
}

func newCORS(allowed []string) cors {
	c := cors{any: slices.Contains(allowed, "*"), origins: make(map[string]struct{}, len(allowed))}
	for _, o := range allowed {
		c.origins[o] = struct{}{}
	}
	return c
}

// apply sets the CORS response headers for r and reports whether its origin
// is allowed.
func (c cors) apply(h http.Header, r *http.Request) bool {
	// The answer depends on Origin, so caches must key on it even when no
	// origin is allowed.
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	if _, ok := c.origins[origin]; !ok && !c.any {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	return true
}

// preflight answers an OPTIONS request. Without an allowed origin it sets no
// Allow-* headers, and the browser blocks the real request.
func (c cors) preflight(w http.ResponseWriter, allowed bool) {
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Cache-Control")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
