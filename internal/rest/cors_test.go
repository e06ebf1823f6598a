package rest_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/cors"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/rpc"
)

const appOrigin = "https://app.example"

// ruleServices reads http.yaml's rules as path → the service its selector
// names ("InboxService"), beside httpRules' methods.
func ruleServices(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../../proto/herald/v1/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	selector := regexp.MustCompile(`selector:\s*herald\.v1\.(\w+)\.`)
	rule := regexp.MustCompile(`^\s*(get|post|put|patch|delete):\s*(\S+)\s*$`)
	out := map[string]string{}
	service := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := selector.FindStringSubmatch(sc.Text()); m != nil {
			service = m[1]
		}
		if m := rule.FindStringSubmatch(sc.Text()); m != nil {
			out[strings.Replace(m[2], "{channel=**}", "rooms/a/events", 1)] = service
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func startCORS(t *testing.T) string {
	t.Helper()
	users, err := auth.NewHS256(jwtSecret, auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := rest.New(rest.Services{Inbox: whoAmI{}, Subscription: whoAmI{}, Notify: heraldv1.UnimplementedNotifyServiceServer{}, Channel: heraldv1.UnimplementedChannelServiceServer{}, Presence: heraldv1.UnimplementedPresenceServiceServer{}}, rest.Options{
		Interceptor: rpc.NewAuth(auth.Policy{Users: users}).Unary(),
		CORS:        cors.New([]string{appOrigin}),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestBrowserRoutes sends a preflight to every path of http.yaml: those of
// the user's own services (inbox, /v1/me, channel history) answer 204 with
// their methods; those of service credentials answer no CORS at all.
func TestBrowserRoutes(t *testing.T) {
	t.Parallel()
	base := startCORS(t)
	services := ruleServices(t)
	for path, methods := range httpRules(t) {
		browser := services[path] == "InboxService" || services[path] == "ChannelService"
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", appOrigin)
			req.Header.Set("Access-Control-Request-Method", methods[0])
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			acao := resp.Header.Get("Access-Control-Allow-Origin")
			if !browser {
				if resp.StatusCode != http.StatusMethodNotAllowed || acao != "" {
					t.Errorf("a service route answered a preflight: %d, Allow-Origin %q; want 405 and none", resp.StatusCode, acao)
				}
				return
			}
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("status = %d, want 204", resp.StatusCode)
			}
			if acao != appOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("Allow-Origin = %q, Allow-Credentials %q", acao, resp.Header.Get("Access-Control-Allow-Credentials"))
			}
			if got, want := resp.Header.Get("Access-Control-Allow-Methods"), strings.Join(methods, ", "); got != want {
				t.Errorf("Allow-Methods = %q, want %q", got, want)
			}
			got := resp.Header.Get("Access-Control-Allow-Headers")
			for _, h := range []string{"Authorization", "Content-Type", "Last-Event-ID", "Cache-Control"} {
				if !strings.Contains(got, h) {
					t.Errorf("Allow-Headers = %q, without %s", got, h)
				}
			}
			if resp.Header.Get("Access-Control-Max-Age") == "" {
				t.Error("no Access-Control-Max-Age")
			}
		})
	}
	n := 0
	for _, s := range services {
		if s == "InboxService" || s == "ChannelService" {
			n++
		}
	}
	if n < 8 {
		t.Errorf("found %d browser routes in http.yaml, want at least 8: is the pattern stale?", n)
	}
}

// TestCORSOnAnswers checks that the real requests of a page carry CORS
// headers, errors included, so that the page can read why it failed.
func TestCORSOnAnswers(t *testing.T) {
	t.Parallel()
	base := startCORS(t)
	alice, err := auth.MintHS256(jwtSecret, "alice", time.Hour, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		origin   string
		token    string
		status   int
		wantACAO string
	}{
		{"listed origin", appOrigin, alice, 200, appOrigin},
		{"listed origin, no token", appOrigin, "", 401, appOrigin},
		{"unlisted origin", "https://evil.example", alice, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/me/subscriptions", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", tt.origin)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if tt.wantACAO != "" && !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Errorf("Expose-Headers = %q", resp.Header.Get("Access-Control-Expose-Headers"))
			}
			if got := resp.Header.Values("Vary"); !slices.Contains(got, "Origin") {
				t.Errorf("Vary = %q, want Origin", got)
			}
		})
	}
}
