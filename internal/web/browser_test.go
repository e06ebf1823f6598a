package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/web"
)

// streamRequest is what the stand-in server saw of one GET /v1/stream.
type streamRequest struct {
	token, lastEventID, query string
}

// fakeServer serves the page, /v1/dev/token, an empty /v1/inbox and
// /v1/stream; connection i of the stream gets scripts[i] and then stays
// open until the browser leaves.
func fakeServer(t *testing.T, scripts ...string) (*httptest.Server, <-chan streamRequest) {
	t.Helper()
	var minted, conns atomic.Int32
	reqs := make(chan streamRequest, len(scripts)+1)
	mux := http.NewServeMux()
	mux.Handle("GET /", web.Handler())
	mux.HandleFunc("GET /v1/dev/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok := fmt.Sprintf("tok-%s-%d", r.URL.Query().Get("user"), minted.Add(1))
		_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 3600})
	})
	mux.HandleFunc("GET /v1/inbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"entries":[],"next_page_token":"","stream_cursor":"","counts":{"unread":0,"unseen":0}}`)
	})
	mux.HandleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		i := int(conns.Add(1)) - 1
		// The page's client sends the token in a header, never in the URL,
		// and resumes with the Last-Event-ID header.
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		select {
		case reqs <- streamRequest{token, r.Header.Get("Last-Event-ID"), r.URL.RawQuery}:
		default:
		}
		if i >= len(scripts) {
			http.Error(w, "no more scripts", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "retry: 3000\n\n: keep-alive\n\n"+scripts[i])
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, reqs
}

// dumpDOM loads url in headless Chromium and returns the DOM once the page
// is idle: the page must close its stream (autoclose) for that to happen.
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	chromium := testenv.NeedCommand(t, "chromium", "Debian package chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=20000", "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	// Chromium's children may hold the output open after a kill.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

func requireDOM(t *testing.T, dom string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM does not contain %q:\n%s", want, dom)
		}
	}
}

func TestPageInChromium(t *testing.T) {
	t.Parallel()
	srv, reqs := fakeServer(t,
		"id: 1\nevent: notification\ndata: {\"id\":\"n1\",\"type\":\"notification\",\"title\":\"First <b>\",\"created_at\":\"2026-01-02T03:04:05Z\"}\n\n"+
			"id: 2\nevent: comment.created\ndata: {\"id\":\"n2\",\"type\":\"comment.created\",\"title\":\"Second\"}\n\n")
	dom := dumpDOM(t, srv.URL+"/?user=bob&types=comment.created&autoclose=2")
	requireDOM(t, dom,
		`id="done"`,
		`data-state="closed"`,
		`class="event" data-cursor="2" data-type="comment.created" data-id="n2"`,
		`class="event" data-cursor="1" data-type="notification" data-id="n1"`,
		`First &lt;b&gt;`, // text, not markup
	)
	if got := <-reqs; got.token != "tok-bob-1" || got.lastEventID != "" || strings.Contains(got.query, "access_token") {
		t.Errorf("stream request = %+v, want token tok-bob-1 in the header and no cursor", got)
	}
}

func TestPageReopensAfterTokenExpiry(t *testing.T) {
	t.Parallel()
	srv, reqs := fakeServer(t,
		"id: 7\nevent: notification\ndata: {\"id\":\"n7\",\"title\":\"before\"}\n\n"+
			"event: token-expired\ndata: {\"reason\":\"token_expired\"}\n\n",
		"id: 8\nevent: notification\ndata: {\"id\":\"n8\",\"title\":\"after\"}\n\n")
	dom := dumpDOM(t, srv.URL+"/?autoclose=2")
	requireDOM(t, dom,
		`id="done"`,
		`data-cursor="7"`,
		`data-cursor="8"`,
		`data-event="token-expired"`,
	)
	first, second := <-reqs, <-reqs
	if first.token != "tok-alice-1" {
		t.Errorf("first stream token = %q, want tok-alice-1", first.token)
	}
	if second.token != "tok-alice-2" || second.lastEventID != "7" {
		t.Errorf("second stream request = %+v, want a new token and Last-Event-ID 7", second)
	}
}
