package cors_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/internal/cors"
)

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		allowed     []string
		origin      string
		method      string
		wantOK      bool
		wantACAO    string
		wantCreds   bool
		wantExposed bool
	}{
		{name: "listed", allowed: []string{"https://app.example"}, origin: "https://app.example", wantOK: true, wantACAO: "https://app.example", wantCreds: true, wantExposed: true},
		{name: "unlisted", allowed: []string{"https://app.example"}, origin: "https://evil.example"},
		{name: "no origin", allowed: []string{"*"}},
		// Any origin may read, but never with credentials.
		{name: "any", allowed: []string{"*"}, origin: "https://x.example", wantOK: true, wantACAO: "*", wantExposed: true},
		{name: "listed beside any", allowed: []string{"*", "https://app.example"}, origin: "https://app.example", wantOK: true, wantACAO: "https://app.example", wantCreds: true, wantExposed: true},
		{name: "unlisted beside any", allowed: []string{"*", "https://app.example"}, origin: "https://x.example", wantOK: true, wantACAO: "*", wantExposed: true},
		{name: "nothing configured", origin: "https://app.example"},
		{name: "scheme differs", allowed: []string{"https://app.example"}, origin: "http://app.example"},
		{name: "preflight exposes nothing", allowed: []string{"https://app.example"}, origin: "https://app.example", method: http.MethodOptions, wantOK: true, wantACAO: "https://app.example", wantCreds: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := cors.New(tt.allowed)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "http://herald.example/v1/inbox", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			h := http.Header{}
			if got := p.Apply(h, r); got != tt.wantOK {
				t.Errorf("Apply = %v, want %v", got, tt.wantOK)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if got, want := h.Get("Access-Control-Allow-Credentials"), map[bool]string{true: "true"}[tt.wantCreds]; got != want {
				t.Errorf("Allow-Credentials = %q, want %q", got, want)
			}
			if got := h.Get("Access-Control-Expose-Headers"); (got != "") != tt.wantExposed {
				t.Errorf("Expose-Headers = %q, want set: %v", got, tt.wantExposed)
			}
			if got := h.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
				t.Errorf("Vary = %q, want Origin", got)
			}
		})
	}
}

func TestCookieAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		origin  string
		fetch   string // Sec-Fetch-Site
		want    bool
	}{
		{name: "no headers", allowed: []string{"*"}, want: true},
		{name: "same host", allowed: []string{"*"}, origin: "https://herald.example", want: true},
		{name: "same host, other scheme", origin: "http://herald.example", want: true},
		{name: "fetch same-origin", fetch: "same-origin", want: true},
		{name: "fetch none", fetch: "none", want: true},
		{name: "any origin", allowed: []string{"*"}, origin: "https://evil.example"},
		{name: "fetch cross-site", allowed: []string{"*"}, origin: "https://evil.example", fetch: "cross-site"},
		{name: "fetch same-site", fetch: "same-site"},
		{name: "fetch cross-site, no origin", fetch: "cross-site"},
		{name: "null origin", allowed: []string{"*"}, origin: "null"},
		{name: "listed", allowed: []string{"https://app.example"}, origin: "https://app.example", fetch: "cross-site", want: true},
		{name: "fetch same-origin beats a foreign origin", origin: "https://evil.example", fetch: "same-origin", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "https://herald.example/v1/stream", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.fetch != "" {
				r.Header.Set("Sec-Fetch-Site", tt.fetch)
			}
			if got := cors.New(tt.allowed).CookieAllowed(r); got != tt.want {
				t.Errorf("CookieAllowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	const base = "Authorization, Content-Type, Last-Event-ID, Cache-Control"
	tests := []struct {
		name        string
		method      string
		origin      string
		reqMethod   string   // Access-Control-Request-Method
		reqHeaders  []string // Access-Control-Request-Headers
		wantStatus  int
		wantNext    bool
		wantMethods string
		wantHeaders string
	}{
		{name: "preflight", method: http.MethodOptions, origin: "https://app.example", reqMethod: "POST", wantStatus: 204, wantMethods: "GET, PATCH", wantHeaders: base},
		{name: "preflight asks listed headers", method: http.MethodOptions, origin: "https://app.example", reqMethod: "GET",
			reqHeaders: []string{"authorization, X-Requested-With", "accept,accept"}, wantStatus: 204, wantMethods: "GET, PATCH", wantHeaders: base + ", X-Requested-With, Accept"},
		{name: "preflight asks others", method: http.MethodOptions, origin: "https://app.example", reqMethod: "GET",
			reqHeaders: []string{"x-api-key, grpc-metadata-x"}, wantStatus: 204, wantMethods: "GET, PATCH", wantHeaders: base},
		{name: "preflight of an unlisted origin", method: http.MethodOptions, origin: "https://evil.example", reqMethod: "GET", wantStatus: 204},
		{name: "plain OPTIONS", method: http.MethodOptions, wantStatus: 204},
		{name: "OPTIONS with origin, not a preflight", method: http.MethodOptions, origin: "https://app.example", wantStatus: 204},
		{name: "GET", method: http.MethodGet, origin: "https://app.example", wantStatus: 200, wantNext: true},
		{name: "GET of an unlisted origin", method: http.MethodGet, origin: "https://evil.example", wantStatus: 200, wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var called bool
			next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { called = true })
			h := cors.New([]string{"https://app.example"}).Handler("GET, PATCH", next)
			r := httptest.NewRequest(tt.method, "http://herald.example/v1/me/preferences", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.reqMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tt.reqMethod)
			}
			for _, v := range tt.reqHeaders {
				r.Header.Add("Access-Control-Request-Headers", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if called != tt.wantNext {
				t.Errorf("next called = %v, want %v", called, tt.wantNext)
			}
			if got := w.Header().Get("Access-Control-Allow-Methods"); got != tt.wantMethods {
				t.Errorf("Allow-Methods = %q, want %q", got, tt.wantMethods)
			}
			if got := w.Header().Get("Access-Control-Allow-Headers"); got != tt.wantHeaders {
				t.Errorf("Allow-Headers = %q, want %q", got, tt.wantHeaders)
			}
			if tt.wantMethods != "" && w.Header().Get("Access-Control-Max-Age") == "" {
				t.Error("no Access-Control-Max-Age")
			}
			if tt.method == http.MethodOptions {
				if got, want := w.Header().Get("Allow"), "GET, PATCH, OPTIONS"; got != want {
					t.Errorf("Allow = %q, want %q", got, want)
				}
			}
		})
	}
}
