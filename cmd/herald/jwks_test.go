package main_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwksHost serves a JSON Web Key Set on 127.0.0.1 that the test rotates.
type jwksHost struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
}

func newJWKSHost(t *testing.T) *jwksHost {
	t.Helper()
	h := &jwksHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		b := h.body
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(h.Close)
	return h
}

// publish replaces the set with these public keys, by kid. No key names
// its alg, so Herald pins each to the one its type implies.
func (h *jwksHost) publish(t *testing.T, keys map[string]any) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, k := range keys {
		j, err := jwkset.NewJWKFromKey(k, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		m := j.Marshal()
		m.ALG = ""
		set.Keys = append(set.Keys, m)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.body = b
	h.mu.Unlock()
}

// TestJWKSUserTokens runs herald with only a JWKS for user tokens and checks
// that the SSE stream and the REST inbox accept tokens signed by its keys,
// follow a rotation without a restart, and refuse every forged, stale or
// misdirected token with a bare 401 while the log says why.
func TestJWKSUserTokens(t *testing.T) {
	t.Parallel()
	ec1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host := newJWKSHost(t)
	host.publish(t, map[string]any{"ec-1": &ec1.PublicKey, "rsa-1": &rsaKey.PublicKey, "ed-1": edKey.Public()})

	const aud, iss = "herald-web", "https://id.example"
	s := startServer(t, withArgs(
		"--jwt-secret=", // the JWKS alone: HS256 is refused
		"--jwt-jwks-url="+host.URL,
		"--jwt-jwks-min-refresh=100ms",
		"--jwt-audience="+aud,
		"--jwt-issuer="+iss,
		"--jwt-leeway=0s",
	))

	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "carol", "aud": aud, "iss": iss, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		out, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	es, rs, ed, hs := jwt.SigningMethodES256, jwt.SigningMethodRS256, jwt.SigningMethodEdDSA, jwt.SigningMethodHS256

	// status opens the stream and lists the inbox with tok, and returns
	// both statuses and bodies (the stream's only when refused).
	type answer struct {
		code int
		body string
	}
	status := func(t *testing.T, tok string) (stream, inbox answer) {
		t.Helper()
		auth := map[string]string{"Authorization": "Bearer " + tok}
		st := openStream(t, s.HTTPAddr, "/v1/stream", auth)
		stream.code = st.resp.StatusCode
		if stream.code != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
			stream.body = string(b)
		}
		st.Close()
		code, b := restCall(t, s, http.MethodGet, "/v1/inbox", auth, nil, nil)
		return stream, answer{code, string(b)}
	}
	mustWork := func(t *testing.T, name, tok string) {
		t.Helper()
		st, in := status(t, tok)
		if st.code != http.StatusOK || in.code != http.StatusOK {
			t.Fatalf("%s: stream %d %s, inbox %d %s; want 200 both\n%s", name, st.code, st.body, in.code, in.body, s.Logs())
		}
	}

	mustWork(t, "ES256 before rotation", sign(es, ec1, "ec-1", claims(nil)))

	// Rotation: a new EC key under a new kid, the old one removed.
	host.publish(t, map[string]any{"ec-2": &ec2.PublicKey, "rsa-1": &rsaKey.PublicKey, "ed-1": edKey.Public()})
	mustWork(t, "ES256 by the new key", sign(es, ec2, "ec-2", claims(nil)))
	mustWork(t, "RS256", sign(rs, rsaKey, "rsa-1", claims(nil)))
	mustWork(t, "EdDSA", sign(ed, edKey, "ed-1", claims(nil)))

	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	valid := sign(es, ec2, "ec-2", claims(nil))
	tampered := func() string {
		p := strings.Split(valid, ".")
		b, _ := json.Marshal(claims(func(c jwt.MapClaims) { c["sub"] = "alice" }))
		p[1] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(p, ".")
	}()
	refused := []struct {
		name, token string
		reason      string // in the logged reason
	}{
		{"alg none", forge(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "ec-2"}, claims(nil), ""), "signing method none is invalid"},
		{"HS256 keyed by the RSA public key", sign(hs, rsaPEM, "rsa-1", claims(nil)), "HS256 is refused"},
		{"HS256 with the old shared secret", sign(hs, []byte(testSecret), "", claims(nil)), "HS256 is refused"},
		{"unknown kid", sign(es, ec2, "no-such-key", claims(nil)), `unknown kid \"no-such-key\"`},
		{"expired", sign(es, ec2, "ec-2", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), "token is expired"},
		{"not yet valid", sign(es, ec2, "ec-2", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "token is not valid yet"},
		{"wrong aud", sign(es, ec2, "ec-2", claims(func(c jwt.MapClaims) { c["aud"] = "other-app" })), "invalid audience"},
		{"wrong iss", sign(es, ec2, "ec-2", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "invalid issuer"},
		{"tampered payload", tampered, "verification error"},
		{"key deleted by rotation", sign(es, ec1, "ec-1", claims(nil)), `unknown kid \"ec-1\"`},
	}
	var streamBody, inboxBody string
	for _, tc := range refused {
		st, in := status(t, tc.token)
		if st.code != http.StatusUnauthorized || in.code != http.StatusUnauthorized {
			t.Errorf("%s: stream %d, inbox %d; want 401 both", tc.name, st.code, in.code)
			continue
		}
		// The body is the same whatever the reason: it names none.
		if streamBody == "" {
			streamBody, inboxBody = st.body, in.body
		}
		if st.body != streamBody || in.body != inboxBody {
			t.Errorf("%s: bodies %q and %q differ from the other refusals' %q and %q", tc.name, st.body, in.body, streamBody, inboxBody)
		}
		for _, leak := range []string{"kid", "alg", "signature", "audience", "issuer", "HS256", tc.token} {
			if strings.Contains(st.body+in.body, leak) {
				t.Errorf("%s: a 401 body says %q: %s %s", tc.name, leak, st.body, in.body)
			}
		}
	}
	// Each reason reaches the log, at info, from the stream and the inbox.
	for _, tc := range refused {
		waitFor(t, 5*time.Second, func() bool { return countRefusals(s.Logs(), tc.reason) >= 2 }, func() string {
			return fmt.Sprintf("%s: reason %q not logged twice:\n%s", tc.name, tc.reason, s.Logs())
		})
	}
	logs := s.Logs()
	for _, tc := range refused {
		if strings.Contains(logs, tc.token) {
			t.Errorf("%s: the token is in the server log", tc.name)
		}
	}
	t.Logf("401 bodies: stream %s inbox %s", strings.TrimSpace(streamBody), inboxBody)
}

// countRefusals counts the info-level "user token refused" lines of the
// JSON log whose reason contains reason (as it appears JSON-escaped).
func countRefusals(logs, reason string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"INFO"`) && strings.Contains(l, `"msg":"user token refused"`) && strings.Contains(l, reason) {
			n++
		}
	}
	return n
}

// TestJWKSWithSecret: with both a secret and a JWKS, HS256 tokens are
// checked with the secret and the others against the set, and neither kind
// of key can stand in for the other. The server then stops cleanly, JWKS
// refresh included.
func TestJWKSWithSecret(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host := newJWKSHost(t)
	host.publish(t, map[string]any{"ec-1": &ec.PublicKey})
	s := startServer(t, withArgs("--jwt-jwks-url="+host.URL, "--jwt-jwks-refresh=50ms"))
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{"sub": "dave", "exp": time.Now().Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, key any, kid string) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		out, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name, token string
		want        int
	}{
		{"HS256 with the secret", token(t, "dave"), http.StatusOK},
		{"ES256 from the JWKS", sign(jwt.SigningMethodES256, ec, "ec-1"), http.StatusOK},
		{"HS256 keyed by the EC public key", sign(jwt.SigningMethodHS256, der, "ec-1"), http.StatusUnauthorized},
		{"ES256 header, signed with the secret", forge(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, c, testSecret), http.StatusUnauthorized},
	}
	for _, tc := range tests {
		auth := map[string]string{"Authorization": "Bearer " + tc.token}
		st := openStream(t, s.HTTPAddr, "/v1/stream", auth)
		code := st.resp.StatusCode
		st.Close()
		rcode, _ := restCall(t, s, http.MethodGet, "/v1/inbox", auth, nil, nil)
		if code != tc.want || rcode != tc.want {
			t.Errorf("%s: stream %d, inbox %d; want %d", tc.name, code, rcode, tc.want)
		}
	}
	s.Stop()
	if !strings.Contains(s.Logs(), `"msg":"herald stopped"`) {
		t.Errorf("no clean stop:\n%s", s.Logs())
	}
}
