package main_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// forge builds an HS256-shaped token by hand so that the test controls every
// header and claim, including ones no library would produce.
func forge(t *testing.T, header, claims map[string]any, secret string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	if secret == "" {
		return signing + "."
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestStreamAuth(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--jwt-audience=herald-web", "--jwt-issuer=https://id.example"))
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"sub": "mallory", "aud": "herald-web", "iss": "https://id.example", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hs := map[string]any{"alg": "HS256", "typ": "JWT"}
	valid := forge(t, hs, claims(nil), testSecret)
	tampered := func() string {
		parts := strings.Split(valid, ".")
		b, _ := json.Marshal(claims(func(c map[string]any) { c["sub"] = "alice" }))
		parts[1] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, ".")
	}()

	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"valid", valid, http.StatusOK},
		{"no token", "", http.StatusUnauthorized},
		{"bad signature", forge(t, hs, claims(nil), "another-secret-another-secret-0000"), http.StatusUnauthorized},
		{"tampered payload", tampered, http.StatusUnauthorized},
		{"expired", forge(t, hs, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), testSecret), http.StatusUnauthorized},
		{"not yet valid", forge(t, hs, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), testSecret), http.StatusUnauthorized},
		{"wrong audience", forge(t, hs, claims(func(c map[string]any) { c["aud"] = "other" }), testSecret), http.StatusUnauthorized},
		{"wrong issuer", forge(t, hs, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), testSecret), http.StatusUnauthorized},
		{"alg none", forge(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), ""), http.StatusUnauthorized},
		{"no exp", forge(t, hs, claims(func(c map[string]any) { delete(c, "exp") }), testSecret), http.StatusUnauthorized},
		{"garbage", "not.a.token", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{}
			if tc.token != "" {
				h["Authorization"] = "Bearer " + tc.token
			}
			st := openStream(t, s.HTTPAddr, "/v1/stream", h)
			defer st.Close()
			if st.resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", st.resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Errorf("401 body is not JSON: %q", b)
				}
				if tc.token != "" && strings.Contains(string(b), tc.token) {
					t.Errorf("401 body echoes the token")
				}
			}
		})
	}
}

// TestStreamIsolation: a user's token only ever yields that user's events,
// whatever other IDs the request names; tokens in the query and cookie work
// and never reach the logs.
func TestStreamIsolation(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--log-level=debug"))
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	aTok := token(t, "alice")
	viaQuery := openStream(t, s.HTTPAddr, "/v1/stream?user=bob&user_id=bob&sub=bob&access_token="+url.QueryEscape(aTok), map[string]string{"X-User-Id": "bob"})
	viaCookie := openStream(t, s.HTTPAddr, "/v1/stream?user=bob", map[string]string{"Cookie": "herald_token=" + aTok})
	for _, st := range []*rawStream{viaQuery, viaCookie} {
		if st.resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", st.resp.StatusCode)
		}
	}
	for _, u := range []string{"bob", "bob", "alice"} {
		if _, err := notifyUser(ctx, c, u, "for "+u); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []*rawStream{viaQuery, viaCookie} {
		_, p, err := st.NextNotification(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if p.Title != "for alice" {
			t.Errorf("alice's stream got %q", p.Title)
		}
	}
	// A resume cursor of Bob's does not open Bob's inbox either.
	st := openStream(t, s.HTTPAddr, "/v1/stream?access_token="+url.QueryEscape(aTok), map[string]string{"Last-Event-ID": "0"})
	_, p, err := st.NextNotification(5 * time.Second)
	if err != nil || p.Title != "for alice" {
		t.Errorf("alice's replay from 0 = %+v (err %v)", p, err)
	}
	if strings.Contains(s.Logs(), aTok) {
		t.Error("a token appears in the server log")
	}
}

func TestStreamEndsAtTokenExpiry(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--jwt-leeway=0s"))
	tok, err := auth.MintHS256([]byte(testSecret), "judy", 1500*time.Millisecond, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := openStream(t, s.HTTPAddr, "/v1/stream", map[string]string{"Authorization": "Bearer " + tok})
	if st.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", st.resp.StatusCode)
	}
	for i := 0; i < 100; i++ {
		ev, err := st.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("stream ended without token-expired event: %v", err)
		}
		if ev.Event == "token-expired" {
			if _, err := st.Next(5 * time.Second); err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Errorf("after token-expired: %v, want the stream closed", err)
			}
			return
		}
	}
	t.Fatal("no token-expired event")
}
