// Package ticket issues stream tickets: short-lived, single-use, opaque
// credentials that open one GET /v1/stream, so that a browser never puts a
// user's JWT in a URL (where proxies and servers log it). A page exchanges
// its token for a ticket with POST /v1/stream-tickets (the token in the
// Authorization header) and opens EventSource("/v1/stream?ticket=…").
//
// A ticket is 256 random bits, base64url without padding (43 characters):
// not a JWT, it says nothing to whoever reads it. It carries what the
// stream needs from the token it was issued for (the user, the token's
// channels claim and its expiry, at which the stream still ends with
// token-expired), and lives for the configured TTL, or until the token
// expires if that is sooner. Redeeming it removes it, so a ticket copied
// from a log after use opens nothing.
//
// Only a SHA-256 hash of a ticket is kept: whoever reads the memory or the
// Redis keys learns no ticket that still works. Memory keeps tickets on
// one node (the embedded store); Redis keeps them where every node of a
// cluster finds them.
package ticket

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// DefaultTTL is how long a ticket lives when Options.TTL is zero.
const DefaultTTL = 30 * time.Second

// size is how many random bytes make a ticket, and encodedLen how many
// characters they take in base64url without padding.
const (
	size       = 32
	encodedLen = 43
)

// ErrTokenExpired says that a ticket was asked for with a token that
// expires before any ticket could be used.
var ErrTokenExpired = errors.New("ticket: the token has expired")

// Options configure Memory and Redis. Zero values mean the defaults.
type Options struct {
	// TTL is how long a ticket lives (default DefaultTTL).
	TTL time.Duration
	// Now is the clock (default time.Now); tests move it by hand.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// lifetime is how long a ticket for c issued at now lives: the TTL, or less
// when the token expires sooner.
func (o *Options) lifetime(c auth.Claims, now time.Time) (time.Duration, error) {
	ttl := o.TTL
	if !c.Expiry.IsZero() {
		// Redis keeps lifetimes in whole milliseconds.
		left := c.Expiry.Sub(now)
		if left < time.Millisecond {
			return 0, ErrTokenExpired
		}
		ttl = min(ttl, left)
	}
	return ttl, nil
}

// newTicket returns a fresh ticket and its hash.
func newTicket() (string, [sha256.Size]byte) {
	var b [size]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	t := base64.RawURLEncoding.EncodeToString(b[:])
	return t, sha256.Sum256([]byte(t))
}

// hashOf returns the hash a ticket is kept under, or false when t cannot be
// a ticket at all, which then needs no lookup.
func hashOf(t string) ([sha256.Size]byte, bool) {
	if len(t) != encodedLen {
		return [sha256.Size]byte{}, false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return [sha256.Size]byte{}, false
		}
	}
	return sha256.Sum256([]byte(t)), true
}
