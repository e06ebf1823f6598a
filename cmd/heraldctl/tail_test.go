package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
)

// streamServer is a stand-in for GET /v1/stream: it checks the token, records
// each connection's Last-Event-ID, and serves the frames of the next script
// entry, then either closes the stream or keeps it open until the client
// leaves.
type streamServer struct {
	verifier *auth.JWTVerifier
	scripts  chan string
	lastIDs  chan string
	// requests gets each connection's ?channels= and its token's channels
	// claim, when there is room.
	requests chan streamRequest
}

type streamRequest struct {
	channels string
	claim    []string
}

func newStreamServer(t *testing.T, scripts ...string) *httptest.Server {
	t.Helper()
	v, err := auth.NewHS256([]byte(config.DevJWTSecret), auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := &streamServer{verifier: v, scripts: make(chan string, len(scripts)), lastIDs: make(chan string, len(scripts)+1), requests: make(chan streamRequest, len(scripts)+1)}
	for _, sc := range scripts {
		s.scripts <- sc
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// keepOpen ends a script whose stream stays open.
const keepOpen = "\x00open"

func (s *streamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/stream" {
		http.NotFound(w, r)
		return
	}
	tok, _ := auth.TokenFromRequest(r)
	claims, err := s.verifier.Verify(r.Context(), tok)
	if err != nil || claims.User != "alice" {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	select {
	case s.lastIDs <- r.Header.Get("Last-Event-ID"):
	default:
	}
	select {
	case s.requests <- streamRequest{channels: r.URL.Query().Get("channels"), claim: claims.Channels}:
	default:
	}
	var script string
	select {
	case script = <-s.scripts:
	default:
		http.Error(w, "no more scripts", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	body, open := strings.CutSuffix(script, keepOpen)
	_, _ = io.WriteString(w, body)
	http.NewResponseController(w).Flush()
	if open {
		<-r.Context().Done()
	}
}

// startTail runs tail in the background; it returns a channel of printed
// lines and one of run's result.
func startTail(ctx context.Context, t *testing.T, args ...string) (<-chan string, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	lines := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		err := runEnv(ctx, append([]string{"tail"}, args...), noEnv, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, done
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func TestTailPrintsEvents(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t,
		"retry: 3000\n\n: keep-alive\n\nid: 1\nevent: comment.created\ndata: {\"id\":\"a\",\ndata: \"title\":\"Hi\"}\n\n"+
			"id: 2\nevent: notification\ndata: {\"id\":\"b\"}\n\n"+keepOpen)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startTail(ctx, t, "--user", "alice", "--server", srv.URL, "--last-event-id", "0")

	want := []string{
		"id=1 event=comment.created data={\"id\":\"a\",",
		"\"title\":\"Hi\"}",
		"id=2 event=notification data={\"id\":\"b\"}",
	}
	for i, w := range want {
		if got := receive(t, lines, fmt.Sprintf("line %d", i)); got != w {
			t.Errorf("line %d = %q, want %q", i, got, w)
		}
	}
	cancel()
	if err := receive(t, done, "tail to stop"); err != nil {
		t.Errorf("tail after interrupt = %v, want nil", err)
	}
}

// TestTailChannels checks that --channels asks for the channels, grants
// the token exactly them, and that channel events say which channel they
// come from while inbox events are printed as before.
func TestTailChannels(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t,
		"id: 7_ab.3\nevent: chat.message\ndata: {\"id\":\"a\",\"title\":\"Ship it?\",\"channel\":\"rooms/dev\"}\n\n"+
			"id: 8_ab.3\nevent: notification\ndata: {\"id\":\"b\",\"title\":\"Hi\"}\n\n"+
			"id: 8_ab.3\nevent: reset\ndata: {\"reason\":\"cursor_expired\",\"cursor\":\"8_ab.3\",\"channel\":\"scores/m-1\"}\n\n"+keepOpen)
	s := srv.Config.Handler.(*streamServer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startTail(ctx, t, "--user", "alice", "--server", srv.URL, "--channels", "rooms/dev", "--channels", "scores/m-1")

	req := receive(t, s.requests, "the stream request")
	if got, want := req.channels, "rooms/dev,scores/m-1"; got != want {
		t.Errorf("?channels= %q, want %q", got, want)
	}
	if got, want := strings.Join(req.claim, " "), "rooms/dev scores/m-1"; got != want {
		t.Errorf("token's channels claim %q, want %q", got, want)
	}
	want := []string{
		`id=7_ab.3 event=chat.message channel=rooms/dev data={"id":"a","title":"Ship it?","channel":"rooms/dev"}`,
		`id=8_ab.3 event=notification data={"id":"b","title":"Hi"}`,
		`id=8_ab.3 event=reset channel=scores/m-1 data={"reason":"cursor_expired","cursor":"8_ab.3","channel":"scores/m-1"}`,
	}
	for i, w := range want {
		if got := receive(t, lines, fmt.Sprintf("line %d", i)); got != w {
			t.Errorf("line %d = %q, want %q", i, got, w)
		}
	}
	cancel()
	if err := receive(t, done, "tail to stop"); err != nil {
		t.Errorf("tail after interrupt = %v, want nil", err)
	}
}

func TestTailResumesWithLastEventID(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t,
		"retry: 1\n\nid: 5\ndata: first\n\n", // then the server closes the stream
		"id: 6\ndata: second\n\n"+keepOpen,
	)
	s := srv.Config.Handler.(*streamServer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startTail(ctx, t, "--user", "alice", "--server", srv.URL)

	if got := receive(t, s.lastIDs, "first connection"); got != "" {
		t.Errorf("first Last-Event-ID = %q, want none", got)
	}
	if got, want := receive(t, lines, "first event"), "id=5 event=message data=first"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := receive(t, s.lastIDs, "second connection"); got != "5" {
		t.Errorf("Last-Event-ID on reconnect = %q, want 5", got)
	}
	if got, want := receive(t, lines, "second event"), "id=6 event=message data=second"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	cancel()
	if err := receive(t, done, "tail to stop"); err != nil {
		t.Errorf("tail after interrupt = %v, want nil", err)
	}
}

func TestTailGivesUpOnRefusal(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t)
	err := runEnv(context.Background(), []string{"tail", "--user", "alice", "--server", srv.URL, "--secret", strings.Repeat("x", 32)}, noEnv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("tail with a wrong secret = %v, want a 401 error", err)
	}
	if got := exitCode(err, io.Discard); got != exitError {
		t.Errorf("exit code = %d, want %d", got, exitError)
	}
}

// TestTailExplainsUnauthorized checks that a 401 comes with what usually
// causes it, which the server's fixed message cannot say.
func TestTailExplainsUnauthorized(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"unauthenticated","message":"the token is invalid or expired"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name       string
		env        env
		wantStderr string
		wantHint   []string
	}{
		{"development secret", noEnv, devSecretNote, []string{"only a --dev server", "--secret or HERALD_JWT_SECRET"}},
		{"own secret", mapEnv("HERALD_JWT_SECRET", strings.Repeat("s", 32)), "", []string{"--jwt-secret", "--audience", "--issuer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			err := runEnv(context.Background(), []string{"tail", "--user", "alice", "--server", srv.URL}, tt.env, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("tail = %v, want a 401 error", err)
			}
			for _, want := range tt.wantHint {
				if !strings.Contains(err.Error(), "hint: ") || !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks a hint with %q", err, want)
				}
			}
			if got := strings.TrimSpace(stderr.String()); got != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", got, tt.wantStderr)
			}
		})
	}
}

// TestServerFromEnvironment checks that HERALD_HTTP_SERVER and
// HERALD_GRPC_SERVER move the default servers, and that --server wins.
func TestServerFromEnvironment(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t, "id: 1\ndata: {}\n\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runEnv(ctx, []string{"tail", "--user", "alice"}, mapEnv("HERALD_HTTP_SERVER", srv.URL), pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "id=1 ") {
		t.Fatalf("tail with HERALD_HTTP_SERVER printed %q, %v; want the event", line, err)
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	receive(t, done, "tail to stop")

	f := &fakeNotify{reqs: make(chan *heraldv1.NotifyRequest, 2), auth: make(chan []string, 2), resp: &heraldv1.NotifyResponse{Id: "n-1", Recipients: 1}}
	addr := startNotifyServer(t, f)
	for _, tt := range []struct {
		args []string
		env  env
	}{
		{[]string{"notify", "--user", "alice", "--title", "Hi"}, mapEnv("HERALD_GRPC_SERVER", addr)},
		{[]string{"notify", "--user", "alice", "--title", "Hi", "--server", addr}, mapEnv("HERALD_GRPC_SERVER", "127.0.0.1:1")},
	} {
		var stdout bytes.Buffer
		if err := runEnv(context.Background(), tt.args, tt.env, &stdout, io.Discard); err != nil || stdout.String() != "id=n-1 recipients=1\n" {
			t.Errorf("notify %q: %v, stdout %q", tt.args, err, stdout.String())
		}
	}
}
