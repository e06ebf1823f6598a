package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// ticketReply is the answer of POST /v1/stream-tickets.
type ticketReply struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

// streamTicket asks baseURL for a stream ticket with user's token in the
// Authorization header and fails the test unless it gets one.
func streamTicket(t testing.TB, baseURL, user string) ticketReply {
	t.Helper()
	h, code, b := restDoAt(t, baseURL, http.MethodPost, "/v1/stream-tickets", map[string]string{"Authorization": "Bearer " + token(t, user)}, nil)
	var r ticketReply
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" || json.Unmarshal(b, &r) != nil || r.Ticket == "" {
		t.Fatalf("POST /v1/stream-tickets: %d %s %s", code, h.Get("Content-Type"), b)
	}
	return r
}

// wantStreamRefused opens path on addr and checks that it is refused with
// 401 and a JSON error body.
func wantStreamRefused(t *testing.T, addr, path string) {
	t.Helper()
	st := openStream(t, addr, path, nil)
	defer st.Close()
	b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
	var body struct {
		Error struct{ Code, Message string }
	}
	if st.resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(b, &body) != nil || body.Error.Code != "unauthenticated" {
		t.Fatalf("GET /v1/stream?ticket=…: %d %s; want 401 with a JSON error", st.resp.StatusCode, b)
	}
}

// TestStreamTickets: a ticket opens its own user's stream, once; a second
// use, and a ticket never issued, get 401.
func TestStreamTickets(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nc := s.notifyClient(t)

	alice := streamTicket(t, s.URL(""), "tk-alice")
	if alice.ExpiresIn != 30 {
		t.Errorf("expires_in = %d, want 30", alice.ExpiresIn)
	}
	st := openStream(t, s.HTTPAddr, "/v1/stream?ticket="+alice.Ticket, nil)
	if st.resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
		t.Fatalf("stream with a ticket: %d %s", st.resp.StatusCode, b)
	}
	// Bob's first: alice's stream must skip it and see hers.
	if _, err := notifyUser(ctx, nc, "tk-bob", "for bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := notifyUser(ctx, nc, "tk-alice", "for alice"); err != nil {
		t.Fatal(err)
	}
	if _, p, err := st.NextNotification(10 * time.Second); err != nil || p.Title != "for alice" {
		t.Fatalf("alice's ticket stream got %q, %v; want her own notification", p.Title, err)
	}

	wantStreamRefused(t, s.HTTPAddr, "/v1/stream?ticket="+alice.Ticket)
	wantStreamRefused(t, s.HTTPAddr, "/v1/stream?ticket=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

	// Bob's ticket opens bob's stream, and it resumes from a cursor like
	// a token's stream: his notification is there.
	bob := openStream(t, s.HTTPAddr, "/v1/stream?lastEventId=0&ticket="+streamTicket(t, s.URL(""), "tk-bob").Ticket, nil)
	if _, p, err := bob.NextNotification(10 * time.Second); err != nil || p.Title != "for bob" {
		t.Fatalf("bob's ticket stream got %q, %v; want his notification", p.Title, err)
	}
}

// TestStreamTicketExpiry: a ticket not used within --stream-ticket-ttl
// gets 401.
func TestStreamTicketExpiry(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	s := startServer(t, withArgs("--stream-ticket-ttl="+ttl.String()))
	asked := time.Now()
	r := streamTicket(t, s.URL(""), "tk-late")
	if r.ExpiresIn != 1 {
		t.Errorf("expires_in = %d, want 1", r.ExpiresIn)
	}
	// Not a synchronisation: the ticket's lifetime has to pass.
	<-time.After(time.Until(asked.Add(ttl + 100*time.Millisecond)))
	wantStreamRefused(t, s.HTTPAddr, "/v1/stream?ticket="+r.Ticket)
}
