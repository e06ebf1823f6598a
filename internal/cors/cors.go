// Package cors answers cross-origin requests to Herald's browser-facing
// routes from the one allow-list of --cors-origins: the stream, stream
// tickets, the user's inbox, /v1/me and channel history. Routes that take a
// service credential get no CORS at all: an API key does not belong in a
// browser.
//
// Listed origins are echoed with credentials allowed, because an
// EventSource or fetch may be made withCredentials to send the token
// cookie, and browsers refuse "*" then. "*" lets any other origin read the
// answers too, but only without credentials: a page of any site must not
// read what its visitor's cookie opened; and the cookie itself counts only
// on same-origin requests and those from a listed origin (CookieAllowed).
package cors

import (
	"net/http"
	"net/url"
	"strings"
)

// Headers a preflight always allows: the credential, JSON bodies, and what
// an EventSource or a fetch-based stream sends on a resume.
const baseHeaders = "Authorization, Content-Type, Last-Event-ID, Cache-Control"

// extraHeaders are the other request headers a preflight allows when the
// request asks for them, by lower-case name, with the spelling answered.
// The list is fixed, so that a preflight never echoes whatever it is sent;
// X-Api-Key and Grpc-Metadata-* are absent on purpose (service credentials
// and gRPC metadata have no business in a browser).
var extraHeaders = map[string]string{
	"accept":           "Accept",
	"accept-language":  "Accept-Language",
	"content-language": "Content-Language",
	"x-requested-with": "X-Requested-With",
}

// exposed are the response headers a cross-origin page may read besides
// the safelisted ones: when to retry a 429 or 503, and a 401's challenge.
const exposed = "Retry-After, WWW-Authenticate"

// maxAge is how long, in seconds, a browser may cache a preflight's answer.
const maxAge = "600"

// Policy is the allow-list. The zero value allows no origin.
type Policy struct {
	any     bool
	origins map[string]struct{}
}

// New returns the policy of allowed: exact origins
// ("https://app.example.com"), and "*" for any other origin without
// credentials.
func New(allowed []string) *Policy {
	p := &Policy{origins: make(map[string]struct{}, len(allowed))}
	for _, o := range allowed {
		if o == "*" {
			p.any = true
			continue
		}
		p.origins[o] = struct{}{}
	}
	return p
}

// Listed reports whether origin is in the explicit allow-list.
func (p *Policy) Listed(origin string) bool {
	_, ok := p.origins[origin]
	return ok
}

// Apply sets the CORS response headers for r and reports whether its origin
// is allowed.
func (p *Policy) Apply(h http.Header, r *http.Request) bool {
	// The answer depends on Origin, so caches must key on it even when no
	// origin is allowed.
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return false
	case p.Listed(origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	case p.any:
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		return false
	}
	if r.Method != http.MethodOptions {
		h.Set("Access-Control-Expose-Headers", exposed)
	}
	return true
}

// CookieAllowed reports whether r may be authenticated by the token
// cookie: a browser attaches the cookie to requests that pages of any site
// start, so only same-origin requests and those from a listed origin may
// use it.
//
// Sec-Fetch-Site, which current browsers send, decides when present: only
// "same-origin" and "none" (the user opened the URL) pass. Otherwise an
// Origin header must name this server's host; its scheme is not compared,
// because TLS may end at a proxy in front of Herald. A request with neither
// header comes from no browser, or from an old one on the same origin,
// which sends no Origin on a same-origin GET.
func (p *Policy) CookieAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin != "" && p.Listed(origin) {
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

// Options answers an OPTIONS request to a route serving methods (such as
// "GET" or "GET, PATCH"), after Apply reported allowed: 204 with Allow, and
// for an allowed preflight the methods, headers and max-age. Without an
// allowed origin it sets no Access-Control-Allow-* headers, and the browser
// blocks the real request.
func Options(w http.ResponseWriter, r *http.Request, methods string, allowed bool) {
	h := w.Header()
	h.Set("Allow", methods+", OPTIONS")
	if allowed && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Values("Access-Control-Request-Headers")))
		h.Set("Access-Control-Max-Age", maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// allowHeaders returns the base headers and those of requested (the
// Access-Control-Request-Headers values) that extraHeaders lists.
func allowHeaders(requested []string) string {
	out := baseHeaders
	seen := map[string]bool{}
	for _, v := range requested {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if canon, ok := extraHeaders[name]; ok && !seen[name] {
				seen[name] = true
				out += ", " + canon
			}
		}
	}
	return out
}

// Handler serves next with the CORS headers of p, and answers OPTIONS
// itself for a route serving methods.
func (p *Policy) Handler(methods string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := p.Apply(w.Header(), r)
		if r.Method == http.MethodOptions {
			Options(w, r, methods, allowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}
