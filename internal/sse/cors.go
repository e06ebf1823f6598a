package sse

import (
	"net/http"
	"net/url"
	"strings"
)

// cors answers cross-origin requests from an allow-list. Listed origins are
// echoed with credentials allowed, because EventSource may be created
// withCredentials to send the token cookie, and browsers refuse "*" then.
// "*" lets any other origin read the stream too, but only without
// credentials: a page of any site must not read the stream that its
// visitor's cookie opened.
type cors struct {
	any     bool
	origins map[string]struct{}
}

func newCORS(allowed []string) cors {
	c := cors{origins: make(map[string]struct{}, len(allowed))}
	for _, o := range allowed {
		if o == "*" {
			c.any = true
			continue
		}
		c.origins[o] = struct{}{}
	}
	return c
}

// listed reports whether origin is in the explicit allow-list.
func (c cors) listed(origin string) bool {
	_, ok := c.origins[origin]
	return ok
}

// apply sets the CORS response headers for r and reports whether its origin
// is allowed.
func (c cors) apply(h http.Header, r *http.Request) bool {
	// The answer depends on Origin, so caches must key on it even when no
	// origin is allowed.
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return false
	case c.listed(origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		return true
	case c.any:
		h.Set("Access-Control-Allow-Origin", "*")
		return true
	}
	return false
}

// cookieAllowed reports whether r may be authenticated by the token cookie:
// a browser attaches the cookie to requests that pages of any site start,
// so only same-origin requests and those from a listed origin may use it.
//
// Sec-Fetch-Site, which current browsers send, decides when present: only
// "same-origin" and "none" (the user opened the URL) pass. Otherwise an
// Origin header must name this server's host; its scheme is not compared,
// because TLS may end at a proxy in front of Herald. A request with neither
// header comes from no browser, or from an old one on the same origin, which
// sends no Origin on a same-origin GET.
func (c cors) cookieAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin != "" && c.listed(origin) {
		return true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
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
