package auth

import (
	"net/http"
	"strings"
)

// CookieName is the cookie a browser may carry its user token in.
const CookieName = "herald_token"

// QueryParam is the query parameter a user token may be passed in, for
// browsers' EventSource, which cannot set headers.
const QueryParam = "access_token"

// TokenFromRequest finds a user's bearer token in r: the Authorization header
// ("Bearer <token>") first, then the herald_token cookie, then the
// access_token query parameter. A header with another scheme or an empty
// value is skipped, so a browser that sends a stale Basic header still gets
// to its cookie.
func TokenFromRequest(r *http.Request) (string, bool) {
	return tokenFrom(r, true)
}

// TokenWithoutCookie is TokenFromRequest without the cookie, for a
// cross-origin request: the browser attaches the cookie whichever site
// started the request, so it proves nothing about who asks.
func TokenWithoutCookie(r *http.Request) (string, bool) {
	return tokenFrom(r, false)
}

// TokenNotFromURL is TokenFromRequest without the query parameter, and
// without the cookie unless cookie is set: for requests that browsers make
// with fetch, which can send the header, so that a token is never taken
// from a URL, which proxies and servers log.
func TokenNotFromURL(r *http.Request, cookie bool) (string, bool) {
	if t, ok := bearer(r.Header.Get("Authorization")); ok {
		return t, true
	}
	if cookie {
		if c, err := r.Cookie(CookieName); err == nil {
			if t := strings.TrimSpace(c.Value); t != "" {
				return t, true
			}
		}
	}
	return "", false
}

func tokenFrom(r *http.Request, cookie bool) (string, bool) {
	if t, ok := TokenNotFromURL(r, cookie); ok {
		return t, true
	}
	if t := strings.TrimSpace(r.URL.Query().Get(QueryParam)); t != "" {
		return t, true
	}
	return "", false
}

// bearer extracts the credential of an Authorization value with the Bearer
// scheme, which is case-insensitive (RFC 9110, section 11.1).
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	h = strings.TrimSpace(h)
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(h[len(scheme):])
	return t, t != ""
}
