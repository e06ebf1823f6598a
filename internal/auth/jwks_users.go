package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// UserConfig says how user tokens are verified: HS256 with Secret, RS256,
// ES256 and EdDSA against the keys at JWKSURL, or both.
type UserConfig struct {
	JWTOptions
	// Secret verifies HS256 tokens; empty refuses them.
	Secret []byte
	// JWKSURL is the key set of the other algorithms; empty refuses them.
	JWKSURL string
	// JWKSRefresh and JWKSMinRefresh are JWKSOptions' Refresh and
	// MinRefresh.
	JWKSRefresh, JWKSMinRefresh time.Duration
	// Logger receives every refusal, with its reason, at info level, and
	// the key set's fetch failures; nil discards them.
	Logger *slog.Logger
}

// UserVerifier verifies user tokens with the verifier made for their
// algorithm: HS256 with the shared secret, the others against the JWKS.
// Each of the two accepts only its own algorithms and kind of key, so a
// token cannot get a JWKS public key used as an HMAC secret, nor skip its
// signature with "none". Every refusal is logged with its reason (never the
// token); callers tell clients only that the token is invalid.
type UserVerifier struct {
	hs   *JWTVerifier  // nil without a secret
	jwks *JWKSVerifier // nil without a JWKS URL
	log  *slog.Logger
}

// NewUserVerifier returns the verifier cfg describes; it needs a secret or
// a JWKS URL. With a JWKS URL it starts fetching the set (see NewJWKS):
// Close stops that.
func NewUserVerifier(cfg UserConfig) (*UserVerifier, error) {
	u := &UserVerifier{log: cfg.Logger}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: user tokens need an HS256 secret or a JWKS URL")
	}
	var err error
	if len(cfg.Secret) > 0 {
		if u.hs, err = NewHS256(cfg.Secret, cfg.JWTOptions); err != nil {
			return nil, err
		}
	}
	if cfg.JWKSURL != "" {
		u.jwks, err = NewJWKS(cfg.JWKSURL, JWKSOptions{
			JWTOptions: cfg.JWTOptions,
			Refresh:    cfg.JWKSRefresh,
			MinRefresh: cfg.JWKSMinRefresh,
			Logger:     cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Verify routes token by the alg of its header and logs a refusal. Errors
// wrap ErrInvalidToken.
func (u *UserVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	// With one kind of key the header needs no reading first: that
	// verifier refuses every other alg itself. The header is decoded only
	// to route between two, or to log a refusal.
	var alg, kid string
	peeked := false
	if u.hs != nil && u.jwks != nil {
		alg, kid = peekHeader(token)
		peeked = true
	}
	var (
		c   Claims
		err error
	)
	switch {
	case u.jwks == nil && u.hs != nil:
		c, err = u.hs.Verify(ctx, token)
	case u.hs == nil && u.jwks != nil:
		if alg, kid = peekHeader(token); alg == "HS256" {
			err = fmt.Errorf("%w: HS256 is refused: no shared secret is configured", ErrInvalidToken)
		} else {
			c, err = u.jwks.Verify(ctx, token)
		}
		peeked = true
	case alg == "HS256" && u.hs != nil:
		c, err = u.hs.Verify(ctx, token)
	case alg == "HS256":
		err = fmt.Errorf("%w: HS256 is refused: no shared secret is configured", ErrInvalidToken)
	case u.jwks != nil:
		c, err = u.jwks.Verify(ctx, token)
	default:
		c, err = u.hs.Verify(ctx, token) // refuses every alg but HS256
	}
	if err != nil {
		if !peeked {
			alg, kid = peekHeader(token)
		}
		u.log.LogAttrs(ctx, slog.LevelInfo, "user token refused",
			slog.String("reason", err.Error()), slog.String("alg", clip(alg)), slog.String("kid", clip(kid)))
	}
	return c, err
}

// Close stops the key set's background fetches, if any.
func (u *UserVerifier) Close() error {
	if u.jwks != nil {
		return u.jwks.Close()
	}
	return nil
}

// peekHeader returns the alg and kid of token's JOSE header, unverified,
// for routing and logs; "" where absent or not a string. It decodes the
// header as the JWT parser does (unpadded base64url, JSON into a map), so
// both read the same alg.
func peekHeader(token string) (alg, kid string) {
	h, _, ok := strings.Cut(token, ".")
	if !ok || len(h) > maxTokenLen {
		return "", ""
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", ""
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return "", ""
	}
	alg, _ = m["alg"].(string)
	kid, _ = m["kid"].(string)
	return alg, kid
}

// clip bounds a header value copied into a log line.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
