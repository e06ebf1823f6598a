package sse_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/sse"
	"github.com/heraldhq/herald/internal/ticket"
)

// ticketEnv is newEnv with tickets in memory and POST /v1/stream-tickets
// served beside the stream.
func ticketEnv(t *testing.T, configure func(*sse.Config)) (*env, string) {
	t.Helper()
	e := newEnv(t, func(c *sse.Config) {
		c.Tickets = ticket.NewMemory(ticket.MemoryOptions{})
		if configure != nil {
			configure(c)
		}
	})
	ts := httptest.NewServer(e.handler.TicketHandler())
	t.Cleanup(ts.Close)
	return e, ts.URL
}

type ticketReply struct {
	status int
	header http.Header
	body   map[string]any
}

// postTicket asks for a ticket with the headers given as name, value pairs.
func postTicket(t *testing.T, url, method string, header ...string) ticketReply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := ticketReply{status: resp.StatusCode, header: resp.Header}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.body); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
	}
	return r
}

func issue(t *testing.T, url, token string) string {
	t.Helper()
	r := postTicket(t, url, http.MethodPost, "Authorization", "Bearer "+token)
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/stream-tickets: %d %v", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	if got := r.body["expires_in"]; got != float64(30) {
		t.Errorf("expires_in = %v, want 30", got)
	}
	tk, _ := r.body["ticket"].(string)
	if len(tk) < 22 {
		t.Fatalf("ticket %q", tk)
	}
	return tk
}

// wantRefused checks that a stream request is answered status with the
// JSON error of code.
func wantRefused(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, status)
	}
	var got struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Error.Code != code {
		t.Errorf("body %s (%v), want code %s", body, err, code)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
}

// TestTicket: a ticket opens its user's stream once; the second use, and
// a ticket never issued, get 401 with a JSON body.
func TestTicket(t *testing.T) {
	t.Parallel()
	e, url := ticketEnv(t, nil)
	tk := issue(t, url, tokenAlice)

	_, fr := e.connect("", "?ticket="+tk, nil)
	e.store.append("bob", 1)
	alice := e.store.append("alice", 1)
	f, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	wantEntry(t, f, alice[0]) // alice's, not bob's

	wantRefused(t, e.do(e.request("?ticket="+tk, nil)), http.StatusUnauthorized, "unauthenticated")
	wantRefused(t, e.do(e.request("?ticket="+strings.Repeat("A", 43), nil)), http.StatusUnauthorized, "unauthenticated")
	// A ticket is the one credential looked at: a used one fails even
	// beside a good token.
	wantRefused(t, e.do(e.request("?ticket="+tk+"&access_token="+tokenAlice, nil)), http.StatusUnauthorized, "unauthenticated")
	if logs := e.logs.String(); strings.Contains(logs, tk) {
		t.Errorf("logs carry the ticket:\n%s", logs)
	}
}

// TestTicketCarriesChannels: the stream opened by a ticket may listen to
// what the token's channels claim allowed, and to nothing else.
func TestTicketCarriesChannels(t *testing.T) {
	t.Parallel()
	e, url := ticketEnv(t, func(c *sse.Config) { c.Channels = newMemChannels() })
	e.verifier["tok-rooms"] = auth.Claims{User: "carol", Expiry: time.Now().Add(time.Hour), Channels: []string{"rooms/*"}}
	resp, _ := e.connect("", "?channels=rooms/a&ticket="+issue(t, url, "tok-rooms"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantRefused(t, e.do(e.request("?channels=news/a&ticket="+issue(t, url, "tok-rooms"), nil)), http.StatusForbidden, "permission_denied")
}

func TestTicketRequests(t *testing.T) {
	t.Parallel()
	e, url := ticketEnv(t, func(c *sse.Config) { c.AllowedOrigins = []string{"https://app.example"} })
	e.verifier["tok-expired"] = auth.Claims{User: "alice", Expiry: time.Now().Add(-time.Minute)}
	cookie := "herald_token=" + tokenAlice
	tests := []struct {
		name     string
		method   string
		header   []string
		query    string
		status   int
		code     string
		wantACAO string
	}{
		{name: "bearer", header: []string{"Authorization", "Bearer " + tokenAlice}, status: 200},
		{name: "listed origin", header: []string{"Authorization", "Bearer " + tokenAlice, "Origin", "https://app.example"}, status: 200, wantACAO: "https://app.example"},
		{name: "cookie, same origin", header: []string{"Cookie", cookie, "Sec-Fetch-Site", "same-origin"}, status: 200},
		{name: "cookie, listed origin", header: []string{"Cookie", cookie, "Origin", "https://app.example"}, status: 200, wantACAO: "https://app.example"},
		{name: "cookie, other site", header: []string{"Cookie", cookie, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, status: 401, code: "unauthenticated"},
		{name: "token in the query", query: "?access_token=" + tokenAlice, status: 401, code: "unauthenticated"},
		{name: "no token", status: 401, code: "unauthenticated"},
		{name: "unknown token", header: []string{"Authorization", "Bearer tok-mallory-secret"}, status: 401, code: "unauthenticated"},
		{name: "expired token", header: []string{"Authorization", "Bearer tok-expired"}, status: 401, code: "unauthenticated"},
		{name: "GET", method: http.MethodGet, header: []string{"Authorization", "Bearer " + tokenAlice}, status: 405, code: "method_not_allowed"},
		{name: "preflight", method: http.MethodOptions, header: []string{"Origin", "https://app.example", "Access-Control-Request-Method", "POST"}, status: 204, wantACAO: "https://app.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := postTicket(t, url+tt.query, method, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d (%v), want %d", r.status, r.body, tt.status)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			switch {
			case tt.status == 204:
				if got := r.header.Get("Access-Control-Allow-Methods"); got != "POST" {
					t.Errorf("Allow-Methods = %q, want POST", got)
				}
			case tt.code != "":
				errBody, _ := r.body["error"].(map[string]any)
				if errBody["code"] != tt.code {
					t.Errorf("body %v, want code %s", r.body, tt.code)
				}
				if r.header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
				}
			default:
				if tk, _ := r.body["ticket"].(string); tk == "" {
					t.Errorf("body %v holds no ticket", r.body)
				}
			}
		})
	}
	if logs := e.logs.String(); strings.Contains(logs, "secret") {
		t.Errorf("logs carry a token:\n%s", logs)
	}
}

// failingTickets is a store of tickets that does not answer.
type failingTickets struct{}

func (failingTickets) Issue(context.Context, auth.Claims) (string, time.Duration, error) {
	return "", 0, errors.New("redis down")
}

func (failingTickets) Redeem(context.Context, string) (auth.Claims, bool, error) {
	return auth.Claims{}, false, errors.New("redis down")
}

// TestTicketsUnavailable: a store of tickets that fails is a 503 to retry,
// not a 401 that would make a client drop its token.
func TestTicketsUnavailable(t *testing.T) {
	t.Parallel()
	e, url := ticketEnv(t, func(c *sse.Config) { c.Tickets = failingTickets{} })
	r := postTicket(t, url, http.MethodPost, "Authorization", "Bearer "+tokenAlice)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("issue: %d, Retry-After %q; want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	wantRefused(t, e.do(e.request("?ticket="+strings.Repeat("A", 43), nil)), http.StatusServiceUnavailable, "unavailable")
}

// TestTicketTokenExpiry: a stream opened by a ticket ends with
// token-expired at the expiry of the token the ticket was issued for.
func TestTicketTokenExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hb := hub.New(hub.Options{})
		tickets := ticket.NewMemory(ticket.MemoryOptions{})
		h := sse.NewHandler(sse.Config{
			Store:    newMemStore(hb),
			Hub:      hb,
			Verifier: fakeVerifier{},
			Tickets:  tickets,
		})
		tk, _, err := tickets.Issue(t.Context(), auth.Claims{User: "alice", Expiry: time.Now().Add(20 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/stream?ticket="+tk, nil)
		rec := newRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, req)
		}()
		time.Sleep(20 * time.Second)
		<-done
		want := "retry: 3000\n\n: keep-alive\n\nevent: token-expired\ndata: {\"reason\":\"token_expired\"}\n\n"
		if got := rec.take(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
