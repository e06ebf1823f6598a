package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/auth"
)

var (
	secret   = []byte("0123456789abcdef0123456789abcdef")
	other    = []byte("ffffffffffffffffffffffffffffffff")
	testNow  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	audience = "herald"
	issuer   = "https://issuer.example"
)

func newVerifier(t *testing.T) *auth.JWTVerifier {
	t.Helper()
	v, err := auth.NewHS256(secret, auth.JWTOptions{
		Audience: audience,
		Issuer:   issuer,
		Leeway:   5 * time.Second,
		Now:      func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "alice",
		"aud": audience,
		"iss": issuer,
		"exp": testNow.Add(time.Hour).Unix(),
		"nbf": testNow.Add(-time.Minute).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// rawToken builds a token with an arbitrary header and an HMAC-SHA256
// signature under secret, as an attacker who knows a public key or wants to
// switch algorithms would.
func rawToken(t testing.TB, header map[string]any, c jwt.MapClaims, signed bool) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(c)
	if !signed {
		return input + "."
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyMatrix(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)
	hs := jwt.SigningMethodHS256
	tests := []struct {
		name  string
		token string
		want  string // user; empty means refused
	}{
		{"valid", sign(t, hs, secret, claims(nil)), "alice"},
		{"valid within leeway", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-2 * time.Second).Unix() })), "alice"},
		{"valid aud list", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", audience} })), "alice"},
		{"no token", "", ""},
		{"garbage", "not.a.jwt", ""},
		{"garbage one part", "abc", ""},
		{"bad signature", sign(t, hs, other, claims(nil)), ""},
		{"expired", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Minute).Unix() })), ""},
		{"no exp", sign(t, hs, secret, claims(func(c jwt.MapClaims) { delete(c, "exp") })), ""},
		{"nbf in future", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() })), ""},
		{"wrong aud", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), ""},
		{"no aud", sign(t, hs, secret, claims(func(c jwt.MapClaims) { delete(c, "aud") })), ""},
		{"wrong iss", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), ""},
		{"empty sub", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["sub"] = "" })), ""},
		{"no sub", sign(t, hs, secret, claims(func(c jwt.MapClaims) { delete(c, "sub") })), ""},
		{"sub with newline", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["sub"] = "alice\nbob" })), ""},
		{"sub too long", sign(t, hs, secret, claims(func(c jwt.MapClaims) { c["sub"] = strings.Repeat("a", 257) })), ""},
		{"alg none", rawToken(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), false), ""},
		{"alg none with signature", rawToken(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), true), ""},
		{"alg HS384", sign(t, jwt.SigningMethodHS384, secret, claims(nil)), ""},
		{"alg RS256 header, HMAC signature", rawToken(t, map[string]any{"alg": "RS256", "typ": "JWT"}, claims(nil), true), ""},
		{"HS256 raw control", rawToken(t, map[string]any{"alg": "HS256", "typ": "JWT"}, claims(nil), true), "alice"},
		{"oversized", strings.Repeat("a", 9000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), tt.token)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Verify = %+v, want refusal", got)
				}
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrInvalidToken", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(got.User) != tt.want {
				t.Errorf("user = %q, want %q", got.User, tt.want)
			}
			if got.Expiry.IsZero() {
				t.Error("expiry is zero")
			}
		})
	}
}

func TestVerifyWithoutAudienceOrIssuer(t *testing.T) {
	t.Parallel()
	v, err := auth.NewHS256(secret, auth.JWTOptions{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "aud"); delete(c, "iss") }))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestNewHS256ShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewHS256([]byte("short"), auth.JWTOptions{}); err == nil {
		t.Fatal("NewHS256 accepted a 5-byte secret")
	}
}

func TestMintHS256RoundTrip(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)
	tok, err := auth.MintHS256(secret, "bob", time.Hour, audience, issuer, testNow)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify minted token: %v", err)
	}
	if got.User != "bob" || !got.Expiry.Equal(testNow.Add(time.Hour)) {
		t.Errorf("claims = %+v", got)
	}

	for _, bad := range []struct {
		name   string
		secret []byte
		user   string
		ttl    time.Duration
	}{
		{"empty user", secret, "", time.Hour},
		{"zero ttl", secret, "bob", 0},
		{"short secret", []byte("x"), "bob", time.Hour},
	} {
		if _, err := auth.MintHS256(bad.secret, bad.user, bad.ttl, "", "", testNow); err == nil {
			t.Errorf("%s: MintHS256 succeeded", bad.name)
		}
	}
}
