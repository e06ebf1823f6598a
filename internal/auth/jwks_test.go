package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/logbuf"
)

// testKeys are generated once: RSA generation is slow.
type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	rsaWeak       *rsa.PrivateKey // 1024 bits: below Herald's minimum
	ec, ecOther   *ecdsa.PrivateKey
	ec384         *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var k testKeys
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaWeak, err = rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

// jwk describes key as a JWKS entry with the given kid, alg and use; an
// empty alg leaves the member out, so the key's type implies it.
func jwk(t testing.TB, key any, kid string, alg jwkset.ALG, use jwkset.USE) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true}, // for the oct key
		Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: use},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := j.Marshal()
	m.ALG = alg // jwkset fills in EdDSA for Ed25519 keys
	return m
}

// keyServer serves a JWKS on 127.0.0.1 that tests can change, and counts
// fetches.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	fetches atomic.Int64
}

func newKeyServer(t testing.TB, ks ...jwkset.JWKMarshal) *keyServer {
	t.Helper()
	s := &keyServer{status: http.StatusOK}
	s.setKeys(t, ks...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *keyServer) setKeys(t testing.TB, ks ...jwkset.JWKMarshal) {
	t.Helper()
	b, err := json.Marshal(jwkset.JWKSMarshal{Keys: append([]jwkset.JWKMarshal{}, ks...)})
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(http.StatusOK, b)
}

func (s *keyServer) setBody(status int, b []byte) {
	s.mu.Lock()
	s.body, s.status = b, status
	s.mu.Unlock()
}

// signKID signs c with m and key, naming kid in the header unless it is nil.
func signKID(t testing.TB, m jwt.SigningMethod, key any, kid any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJWKS(t testing.TB, url string, o auth.JWKSOptions) *auth.JWKSVerifier {
	t.Helper()
	o.JWTOptions = auth.JWTOptions{Audience: audience, Issuer: issuer, Leeway: 5 * time.Second, Now: func() time.Time { return testNow }}
	v, err := auth.NewJWKS(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// publicPEM is what an attacker would use as an HMAC secret: the RSA public
// key as the server publishes it.
func publicPEM(t testing.TB, pub any) (pemBytes, der []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der
}

func TestJWKSVerifyMatrix(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newKeyServer(t,
		jwk(t, &k.rsa.PublicKey, "rsa", jwkset.AlgRS256, jwkset.UseSig),
		jwk(t, &k.ec.PublicKey, "ec", "", ""), // alg implied: ES256
		jwk(t, k.ed.Public(), "ed", "", ""),   // alg implied: EdDSA
		jwk(t, &k.ecOther.PublicKey, "ec-says-rs", jwkset.AlgRS256, ""),
		jwk(t, &k.rsaWeak.PublicKey, "weak", jwkset.AlgRS256, ""),
		jwk(t, &k.ec384.PublicKey, "p384", "", ""),
		jwk(t, &k.ecOther.PublicKey, "enc", "", jwkset.UseEnc),
		jwk(t, secret, "oct", jwkset.AlgHS256, ""),
	)
	v := newJWKS(t, srv.URL, auth.JWKSOptions{MinRefresh: time.Hour})
	rs, es, ed := jwt.SigningMethodRS256, jwt.SigningMethodES256, jwt.SigningMethodEdDSA
	pemKey, derKey := publicPEM(t, &k.rsa.PublicKey)
	valid := signKID(t, es, k.ec, "ec", claims(nil))
	tampered := func() string {
		other := signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { c["sub"] = "mallory" }))
		p, o := strings.Split(valid, "."), strings.Split(other, ".")
		return p[0] + "." + o[1] + "." + p[2]
	}()

	tests := []struct {
		name  string
		token string
		want  string // user; empty means refused
		why   string // in the refusal's reason
	}{
		{"RS256", signKID(t, rs, k.rsa, "rsa", claims(nil)), "alice", ""},
		{"ES256, alg implied by key", valid, "alice", ""},
		{"EdDSA, alg implied by key", signKID(t, ed, k.ed, "ed", claims(nil)), "alice", ""},
		{"within leeway", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-2 * time.Second).Unix() })), "alice", ""},

		{"no kid", signKID(t, es, k.ec, nil, claims(nil)), "", "names no kid"},
		{"empty kid", signKID(t, es, k.ec, "", claims(nil)), "", "names no kid"},
		{"kid not a string", signKID(t, es, k.ec, 7, claims(nil)), "", "names no kid"},
		{"kid too long", signKID(t, es, k.ec, strings.Repeat("k", 300), claims(nil)), "", "kid longer"},
		{"unknown kid", signKID(t, es, k.ec, "nope", claims(nil)), "", "unknown kid \"nope\""},
		{"ES256 token naming the RSA key", signKID(t, es, k.ec, "rsa", claims(nil)), "", "does not match key"},
		{"RS256 token naming the EC key", signKID(t, rs, k.rsa, "ec", claims(nil)), "", "does not match key"},
		{"EdDSA token naming the EC key", signKID(t, ed, k.ed, "ec", claims(nil)), "", "does not match key"},
		{"PS256 with the RSA key", signKID(t, jwt.SigningMethodPS256, k.rsa, "rsa", claims(nil)), "", "signing method PS256 is invalid"},
		{"RS384 with the RSA key", signKID(t, jwt.SigningMethodRS384, k.rsa, "rsa", claims(nil)), "", "signing method RS384 is invalid"},
		{"HS256 with the RSA public key PEM as secret", signKID(t, jwt.SigningMethodHS256, pemKey, "rsa", claims(nil)), "", "signing method HS256 is invalid"},
		{"HS256 with the RSA public key DER as secret", signKID(t, jwt.SigningMethodHS256, derKey, "rsa", claims(nil)), "", "signing method HS256 is invalid"},
		{"HS256 with a JWKS oct key", signKID(t, jwt.SigningMethodHS256, secret, "oct", claims(nil)), "", "signing method HS256 is invalid"},
		{"alg none", rawToken(t, map[string]any{"alg": "none", "kid": "ec"}, claims(nil), false), "", "signing method none is invalid"},
		{"key whose alg does not fit its type", signKID(t, es, k.ecOther, "ec-says-rs", claims(nil)), "", "does not allow"},
		{"RSA key under 2048 bits", signKID(t, rs, k.rsaWeak, "weak", claims(nil)), "", "cannot verify"},
		{"P-384 key", signKID(t, jwt.SigningMethodES384, k.ec384, "p384", claims(nil)), "", "ES384 is invalid"},
		{"key for encryption", signKID(t, es, k.ecOther, "enc", claims(nil)), "", "not sig"},
		{"signed by another key", signKID(t, es, k.ecOther, "ec", claims(nil)), "", "verification error"},
		{"tampered payload", tampered, "", "verification error"},
		{"expired", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Minute).Unix() })), "", "expired"},
		{"no exp", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { delete(c, "exp") })), "", "exp claim is required"},
		{"not yet valid", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() })), "", "not valid yet"},
		{"wrong aud", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { c["aud"] = "other" })), "", "audience"},
		{"wrong iss", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "", "issuer"},
		{"no sub", signKID(t, es, k.ec, "ec", claims(func(c jwt.MapClaims) { delete(c, "sub") })), "", "subject"},
		{"oversized", valid + strings.Repeat("a", 9000), "", "longer than"},
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
				if !strings.Contains(err.Error(), tt.why) {
					t.Fatalf("err = %v, want it to say %q", err, tt.why)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(got.User) != tt.want || got.Expiry.IsZero() {
				t.Errorf("claims = %+v, want user %q and an expiry", got, tt.want)
			}
		})
	}
}

// TestJWKSRotation: a token naming a new kid causes a fetch and verifies
// without a restart; one naming a removed key is refused after it.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newKeyServer(t, jwk(t, &k.ec.PublicKey, "k1", "", ""))
	v := newJWKS(t, srv.URL, auth.JWKSOptions{MinRefresh: time.Millisecond})
	old := signKID(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil))
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatalf("k1 before rotation: %v", err)
	}
	srv.setKeys(t, jwk(t, &k.ecOther.PublicKey, "k2", "", ""), jwk(t, k.ed.Public(), "k3", "", ""))
	for _, tok := range []string{
		signKID(t, jwt.SigningMethodES256, k.ecOther, "k2", claims(nil)),
		signKID(t, jwt.SigningMethodEdDSA, k.ed, "k3", claims(nil)),
	} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("new key after rotation: %v", err)
		}
	}
	// The fetch for k2 replaced the whole set: k1 is gone.
	if _, err := v.Verify(context.Background(), old); err == nil || !strings.Contains(err.Error(), `unknown kid "k1"`) {
		t.Fatalf("k1 after rotation: err = %v, want unknown kid", err)
	}
}

// TestJWKSUnknownKIDRateLimited: a flood of made-up kids causes one fetch
// per MinRefresh, and the tokens beyond it are refused at once rather than
// queued.
func TestJWKSUnknownKIDRateLimited(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newKeyServer(t, jwk(t, &k.ec.PublicKey, "k1", "", ""))
	v := newJWKS(t, srv.URL, auth.JWKSOptions{MinRefresh: time.Hour})
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches at start = %d, want 1", n)
	}
	toks := make([]string, 50)
	for i := range toks {
		toks[i] = signKID(t, jwt.SigningMethodES256, k.ec, "made-up-"+string(rune('a'+i%26)), claims(nil))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), tok); err == nil {
				t.Error("a made-up kid verified")
			}
		}()
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("fetches after 50 unknown kids = %d, want 2 (start and one refresh)", n)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("50 refusals took %v: they waited for the rate limit", d)
	}
	// The known key still works without a fetch.
	if _, err := v.Verify(context.Background(), signKID(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil))); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d after a known kid, want 2", n)
	}
}

// TestJWKSBackgroundRefresh: the periodic fetch drops a key removed from
// the set.
func TestJWKSBackgroundRefresh(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newKeyServer(t, jwk(t, &k.ec.PublicKey, "k1", "", ""))
	v := newJWKS(t, srv.URL, auth.JWKSOptions{Refresh: 20 * time.Millisecond, MinRefresh: time.Hour})
	tok := signKID(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// k1 is cached, so verifying it never fetches: only the periodic fetch
	// can learn that it was revoked.
	srv.setKeys(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(context.Background(), tok)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("k1 still verifies 5s after its removal")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, with a deadline
	}
}

// TestJWKSStartFailure: a key server that fails at start does not fail
// NewJWKS; tokens are refused, the failure is logged, and a retry recovers
// without any token asking for it.
func TestJWKSStartFailure(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		name   string
		status int
		body   []byte
	}{
		{"status 500", http.StatusInternalServerError, []byte("down")},
		{"not JSON", http.StatusOK, []byte("<html>")},
		{"over 1 MiB", http.StatusOK, append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("x"), 2<<20)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newKeyServer(t)
			srv.setBody(tt.status, tt.body)
			var logs logbuf.Buffer
			v := newJWKS(t, srv.URL, auth.JWKSOptions{
				MinRefresh: time.Hour,
				Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			tok := signKID(t, jwt.SigningMethodES256, k.ec, "k1", claims(nil))
			if _, err := v.Verify(context.Background(), tok); err == nil {
				t.Fatal("verified with no key set")
			}
			if !strings.Contains(logs.String(), "JWKS fetch failed at start") {
				t.Errorf("start failure not logged: %s", logs.String())
			}
			srv.setKeys(t, jwk(t, &k.ec.PublicKey, "k1", "", ""))
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := v.Verify(context.Background(), tok); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery within 10s; logs: %s", logs.String())
				}
				time.Sleep(20 * time.Millisecond) // polling interval, with a deadline
			}
			if !strings.Contains(logs.String(), "JWKS fetched after failing at start") {
				t.Errorf("recovery not logged: %s", logs.String())
			}
		})
	}
}

func TestJWKSUnreachableAtStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	v := newJWKS(t, url, auth.JWKSOptions{})
	if _, err := v.Verify(context.Background(), signKID(t, jwt.SigningMethodES256, keys().ec, "k1", claims(nil))); err == nil {
		t.Fatal("verified with no key set")
	}
}

func TestNewJWKSBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "file:///etc/keys", "http://", "::"} {
		if v, err := auth.NewJWKS(u, auth.JWKSOptions{}); err == nil {
			_ = v.Close()
			t.Errorf("NewJWKS(%q) succeeded", u)
		}
	}
}

// TestJWKSCloseStopsRefresh: after Close no fetch happens, however short
// the refresh interval.
func TestJWKSCloseStopsRefresh(t *testing.T) {
	t.Parallel()
	srv := newKeyServer(t, jwk(t, &keys().ec.PublicKey, "k1", "", ""))
	v, err := auth.NewJWKS(srv.URL, auth.JWKSOptions{Refresh: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.fetches.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no background fetch within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, with a deadline
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	// Not synchronisation: a fixed window in which fetches would show.
	// One that had begun at Close may still land in the first part.
	time.Sleep(30 * time.Millisecond)
	n := srv.fetches.Load()
	time.Sleep(150 * time.Millisecond) // 15 refresh intervals
	if got := srv.fetches.Load(); got != n {
		t.Errorf("fetches went from %d to %d after Close", n, got)
	}
}
