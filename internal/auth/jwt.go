package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/notify"
)

// ErrInvalidToken is wrapped by every refusal of a user token. The wrapped
// message carries the reason, for logs; clients should only be told that the
// token is invalid.
var ErrInvalidToken = errors.New("invalid token")

// JWTOptions are the checks a JWTVerifier makes beyond the signature and
// expiry. Empty strings skip the audience or issuer check.
type JWTOptions struct {
	// Audience, if set, must be among the token's `aud` values.
	Audience string
	// Issuer, if set, must equal the token's `iss`.
	Issuer string
	// Leeway tolerates clock skew in `exp` and `nbf`.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// MinHS256SecretLen is the shortest accepted HS256 secret: RFC 7518 section
// 3.2 requires a key at least as long as the hash output (256 bits).
const MinHS256SecretLen = 32

// maxTokenLen bounds the work spent on a token before its signature is
// checked; real tokens are a few hundred bytes.
const maxTokenLen = 8 << 10

// JWTVerifier verifies HS256 JWTs with one shared secret. It is safe for
// concurrent use. Consumers hold it through their own one-method interface
// (Verify(ctx, token) (Claims, error)), as they hold a JWKSVerifier or a
// UserVerifier.
type JWTVerifier struct {
	parser *jwt.Parser
	key    []byte
}

// NewHS256 returns a verifier of HS256 tokens signed with secret. Every other
// algorithm, "none" included, is refused, so a token cannot pick how it is
// checked.
func NewHS256(secret []byte, opts JWTOptions) (*JWTVerifier, error) {
	if len(secret) < MinHS256SecretLen {
		return nil, fmt.Errorf("auth: HS256 secret is %d bytes, need at least %d", len(secret), MinHS256SecretLen)
	}
	return &JWTVerifier{
		parser: newParser([]string{jwt.SigningMethodHS256.Alg()}, opts),
		key:    append([]byte(nil), secret...),
	}, nil
}

// newParser returns a parser that accepts only the given algorithms and
// checks the claims the same way for every kind of key.
func newParser(algs []string, opts JWTOptions) *jwt.Parser {
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(opts.Leeway),
	}
	if opts.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(opts.Now))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	return jwt.NewParser(popts...)
}

// Verify checks token's signature, `exp` (required), `nbf`, and `aud` and
// `iss` when configured, and returns its subject as the user. Errors wrap
// ErrInvalidToken.
func (v *JWTVerifier) Verify(_ context.Context, token string) (Claims, error) {
	// WithValidMethods already refuses other algorithms before the key
	// function runs; the key function does not rely on it alone.
	return verify(v.parser, token, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("alg %v is not HS256", t.Header["alg"])
		}
		return v.key, nil
	})
}

// verify parses token with p and keyFn and turns its claims into Claims.
// Errors wrap ErrInvalidToken and say why, for logs.
func verify(p *jwt.Parser, token string, keyFn jwt.Keyfunc) (Claims, error) {
	if token == "" {
		return Claims{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	var tc tokenClaims
	if _, err := p.ParseWithClaims(token, &tc, keyFn); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	user, err := notify.ParseUserID(tc.Subject)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: subject: %w", ErrInvalidToken, err)
	}
	if err := ParseChannelPatterns(tc.Channels); err != nil {
		return Claims{}, fmt.Errorf("%w: channels: %w", ErrInvalidToken, err)
	}
	// ExpirationRequired guarantees ExpiresAt is set.
	return Claims{User: user, Expiry: tc.ExpiresAt.Time, Channels: tc.Channels}, nil
}

// tokenClaims are the claims Herald reads: the registered ones, and the
// channels its bearer may listen to, an array of patterns as Centrifugo
// and Mercure put them in tokens.
type tokenClaims struct {
	jwt.RegisteredClaims
	Channels []string `json:"channels,omitempty"`
}

// Token is what MintHS256 signs.
type Token struct {
	User             string
	TTL              time.Duration
	Audience, Issuer string
	Channels         []string // the channels claim; nil for none
}

// MintHS256 signs an HS256 token for user that expires ttl after now, with
// the given audience and issuer when not empty. It serves `heraldctl token`
// in development, and tests.
func MintHS256(secret []byte, user string, ttl time.Duration, audience, issuer string, now time.Time) (string, error) {
	return Token{User: user, TTL: ttl, Audience: audience, Issuer: issuer}.SignHS256(secret, now)
}

// SignHS256 signs t with secret, issued at now.
func (t Token) SignHS256(secret []byte, now time.Time) (string, error) {
	user, ttl, audience, issuer := t.User, t.TTL, t.Audience, t.Issuer
	if len(secret) < MinHS256SecretLen {
		return "", fmt.Errorf("auth: HS256 secret is %d bytes, need at least %d", len(secret), MinHS256SecretLen)
	}
	if _, err := notify.ParseUserID(user); err != nil {
		return "", fmt.Errorf("auth: mint token for %q: %w", user, err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("auth: mint token: ttl %v is not positive", ttl)
	}
	if err := ParseChannelPatterns(t.Channels); err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}
	tc := tokenClaims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		Issuer:    issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}, Channels: t.Channels}
	if audience != "" {
		tc.Audience = jwt.ClaimStrings{audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}
