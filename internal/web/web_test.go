package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/web"
)

func TestHandlerServesPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		wantStatus   int
		wantType     string
		wantBody     []string
	}{
		{"GET", "/", http.StatusOK, "text/html; charset=utf-8", []string{`<ul id="events" class="events">`, `<ul id="room-events" class="events">`, `<script type="module" src="/app.js">`, `href="/style.css"`, `id="unread"`, `id="token-form"`, `aria-live="polite"`}},
		{"GET", "/app.js", http.StatusOK, "text/javascript; charset=utf-8", []string{"/herald-client.js", "createHeraldClient", "/v1/dev/token", "sessionStorage", "window.heraldEvents", "token-expired", "markAllRead", "loadMore", "autoclose", "/v1/notify"}},
		{"GET", "/style.css", http.StatusOK, "text/css; charset=utf-8", []string{".events"}},
		{"GET", "/herald-client.js", http.StatusOK, "text/javascript; charset=utf-8", []string{"@heraldhq/client", "/v1/stream", "/v1/inbox:mark", "Last-Event-ID", "createHeraldClient"}},
		{"HEAD", "/", http.StatusOK, "text/html; charset=utf-8", nil},
		{"GET", "/?user=bob&autoclose=2", http.StatusOK, "text/html; charset=utf-8", []string{"<!doctype html>"}},
		{"GET", "/missing", http.StatusNotFound, "", nil},
		{"POST", "/", http.StatusMethodNotAllowed, "", nil},
	}
	h := web.Handler()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
				if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") {
					t.Errorf("Content-Security-Policy = %q, want default-src 'self'", got)
				}
			}
			body, _ := io.ReadAll(res.Body)
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD returned a body of %d bytes", len(body))
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(string(body), want) {
					t.Errorf("body does not contain %q", want)
				}
			}
		})
	}
}

func TestNoExternalAssets(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	for _, path := range []string{"/", "/app.js", "/style.css", "/herald-client.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body := rec.Body.String()
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "@import"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q: the page must be self-contained and never inject HTML", path, bad)
			}
		}
	}
}

func TestConditionalGet(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("conditional GET status = %d, want 304", rec.Code)
	}
}

// TestClientModuleIsPublic: pages of other origins import /herald-client.js
// as a module, which browsers fetch in CORS mode; the page itself stays
// same-origin only.
func TestClientModuleIsPublic(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	for path, want := range map[string]string{"/herald-client.js": "*", "/": "", "/app.js": ""} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Origin", "http://other.example")
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", path, got, want)
		}
	}
}
