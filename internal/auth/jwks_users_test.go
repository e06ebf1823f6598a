package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/logbuf"
)

// newUsers returns a UserVerifier with the secret and/or a JWKS holding
// "rsa" (RS256), "ec" (ES256) and "ed" (EdDSA), and the buffer it logs to.
func newUsers(t testing.TB, withSecret, withJWKS bool) (*auth.UserVerifier, *logbuf.Buffer) {
	t.Helper()
	k := keys()
	cfg := auth.UserConfig{
		JWTOptions:     auth.JWTOptions{Audience: audience, Issuer: issuer, Now: func() time.Time { return testNow }},
		JWKSMinRefresh: time.Hour,
	}
	if withSecret {
		cfg.Secret = secret
	}
	if withJWKS {
		srv := newKeyServer(t,
			jwk(t, &k.rsa.PublicKey, "rsa", "", ""),
			jwk(t, &k.ec.PublicKey, "ec", jwkset.AlgES256, ""),
			jwk(t, k.ed.Public(), "ed", "", ""),
		)
		cfg.JWKSURL = srv.URL
	}
	logs := &logbuf.Buffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	u, err := auth.NewUserVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u, logs
}

func TestUserVerifierRouting(t *testing.T) {
	t.Parallel()
	k := keys()
	pemKey, derKey := publicPEM(t, &k.rsa.PublicKey)
	hs := jwt.SigningMethodHS256
	tokens := map[string]string{
		"HS256":                         sign(t, hs, secret, claims(nil)),
		"HS256 naming a JWKS kid":       signKID(t, hs, secret, "rsa", claims(nil)),
		"RS256":                         signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa", claims(nil)),
		"ES256":                         signKID(t, jwt.SigningMethodES256, k.ec, "ec", claims(nil)),
		"EdDSA":                         signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims(nil)),
		"HS256 keyed by RSA public PEM": signKID(t, hs, pemKey, "rsa", claims(nil)),
		"HS256 keyed by RSA public DER": signKID(t, hs, derKey, "rsa", claims(nil)),
		"RS256 header, HMAC signature":  rawToken(t, map[string]any{"alg": "RS256", "kid": "rsa"}, claims(nil), true),
		"ES256 header, HMAC signature":  rawToken(t, map[string]any{"alg": "ES256", "kid": "ec"}, claims(nil), true),
		"alg none":                      rawToken(t, map[string]any{"alg": "none", "kid": "ec"}, claims(nil), false),
		"alg none, no kid":              rawToken(t, map[string]any{"alg": "none"}, claims(nil), false),
		"alg in upper-case key":         rawToken(t, map[string]any{"ALG": "HS256", "alg": "RS256", "kid": "rsa"}, claims(nil), true),
		"garbage":                       "a.b.c",
	}
	// The tokens each configuration accepts; every other one is refused.
	tests := []struct {
		name             string
		secret, withJWKS bool
		accepts          []string
	}{
		{"secret only", true, false, []string{"HS256", "HS256 naming a JWKS kid"}},
		{"JWKS only", false, true, []string{"RS256", "ES256", "EdDSA"}},
		{"both", true, true, []string{"HS256", "HS256 naming a JWKS kid", "RS256", "ES256", "EdDSA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, logs := newUsers(t, tt.secret, tt.withJWKS)
			for name, tok := range tokens {
				want := false
				for _, a := range tt.accepts {
					want = want || a == name
				}
				c, err := u.Verify(context.Background(), tok)
				switch {
				case want && err != nil:
					t.Errorf("%s: %v, want accepted", name, err)
				case want && c.User != "alice":
					t.Errorf("%s: user %q", name, c.User)
				case !want && err == nil:
					t.Errorf("%s: accepted, want refused", name)
				case !want && !errors.Is(err, auth.ErrInvalidToken):
					t.Errorf("%s: err %v, want ErrInvalidToken", name, err)
				}
				if strings.Contains(logs.String(), tok) {
					t.Errorf("%s: the token is in the log", name)
				}
			}
		})
	}
}

// TestUserVerifierLogsRefusals: each refusal is one info line with the
// reason, alg and kid; an accepted token logs nothing.
func TestUserVerifierLogsRefusals(t *testing.T) {
	t.Parallel()
	k := keys()
	u, logs := newUsers(t, false, true)
	if _, err := u.Verify(context.Background(), signKID(t, jwt.SigningMethodES256, k.ec, "ec", claims(nil))); err != nil {
		t.Fatal(err)
	}
	if refusals(logs) != nil {
		t.Fatalf("accepted token logged: %s", logs.String())
	}
	_, _ = u.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, secret, claims(nil)))
	_, _ = u.Verify(context.Background(), signKID(t, jwt.SigningMethodES256, k.ec, "ec", claims(func(c jwt.MapClaims) { c["aud"] = "other" })))
	lines := refusals(logs)
	if len(lines) != 2 {
		t.Fatalf("log lines = %d, want 2:\n%s", len(lines), logs.String())
	}
	wants := []struct{ alg, kid, reason string }{
		{"HS256", "", "HS256 is refused"},
		{"ES256", "ec", "invalid audience"},
	}
	for i, l := range lines {
		var rec struct{ Level, Msg, Reason, Alg, Kid string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		w := wants[i]
		if rec.Level != "INFO" || rec.Msg != "user token refused" || rec.Alg != w.alg || rec.Kid != w.kid || !strings.Contains(rec.Reason, w.reason) {
			t.Errorf("line %d = %+v, want INFO with alg %s, kid %q, reason containing %q", i, rec, w.alg, w.kid, w.reason)
		}
	}
}

// refusals returns the log lines about refused tokens.
func refusals(logs *logbuf.Buffer) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"user token refused"`) {
			out = append(out, l)
		}
	}
	return out
}

func TestNewUserVerifierNeedsAKey(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewUserVerifier(auth.UserConfig{}); err == nil {
		t.Error("no secret and no JWKS accepted")
	}
	if _, err := auth.NewUserVerifier(auth.UserConfig{Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := auth.NewUserVerifier(auth.UserConfig{JWKSURL: "ftp://keys"}); err == nil {
		t.Error("ftp JWKS URL accepted")
	}
}

// FuzzUserVerify: no input panics, every refusal wraps ErrInvalidToken, and
// whatever is accepted names a user, an accepted algorithm and, unless it is
// HS256, a kid.
func FuzzUserVerify(f *testing.F) {
	k := keys()
	f.Add(sign(f, jwt.SigningMethodHS256, secret, claims(nil)))
	f.Add(signKID(f, jwt.SigningMethodRS256, k.rsa, "rsa", claims(nil)))
	f.Add(signKID(f, jwt.SigningMethodES256, k.ec, "ec", claims(nil)))
	f.Add(signKID(f, jwt.SigningMethodEdDSA, k.ed, "ed", claims(nil)))
	f.Add(rawToken(f, map[string]any{"alg": "none", "kid": "ec"}, claims(nil), false))
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add("")
	f.Add("...")
	u, _ := newUsers(f, true, true)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := u.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
			return
		}
		if c.User == "" || c.Expiry.IsZero() {
			t.Fatalf("accepted with claims %+v", c)
		}
		h, _, _ := strings.Cut(token, ".")
		b, err := base64.RawURLEncoding.DecodeString(h)
		if err != nil {
			t.Fatalf("accepted a token whose header does not decode: %v", err)
		}
		var hdr map[string]any
		if err := json.Unmarshal(b, &hdr); err != nil {
			t.Fatalf("accepted a token whose header is not JSON: %v", err)
		}
		switch hdr["alg"] {
		case "HS256":
		case "RS256", "ES256", "EdDSA":
			if kid, _ := hdr["kid"].(string); kid == "" {
				t.Fatalf("accepted %v without a kid", hdr["alg"])
			}
		default:
			t.Fatalf("accepted alg %v", hdr["alg"])
		}
	})
}
