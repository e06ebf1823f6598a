package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
)

func TestTokenFromRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		cookie string
		query  string
		want   string
	}{
		{"nothing", "", "", "", ""},
		{"header", "Bearer h", "", "", "h"},
		{"header scheme case", "bEaReR h", "", "", "h"},
		{"header extra spaces", "Bearer   h  ", "", "", "h"},
		{"header wins over cookie and query", "Bearer h", "c", "q", "h"},
		{"cookie wins over query", "", "c", "q", "c"},
		{"query", "", "", "q", "q"},
		{"basic header skipped", "Basic dXNlcjpwYXNz", "c", "", "c"},
		{"empty bearer skipped", "Bearer ", "", "q", "q"},
		{"bearer without space", "Bearerh", "", "q", "q"},
		{"empty cookie skipped", "", " ", "q", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := "/v1/stream"
			if tt.query != "" {
				target += "?access_token=" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: tt.cookie})
			}
			got, ok := auth.TokenFromRequest(r)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("TokenFromRequest = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func FuzzTokenFromRequest(f *testing.F) {
	f.Add("Bearer abc", "c", "q")
	f.Add("bearer", "", "")
	f.Add("", "", "%zz")
	f.Fuzz(func(t *testing.T, header, cookie, query string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
		r.Header.Set("Authorization", header)
		r.Header.Set("Cookie", auth.CookieName+"="+cookie)
		r.URL.RawQuery = "access_token=" + query
		got, ok := auth.TokenFromRequest(r)
		if ok == (got == "") {
			t.Fatalf("TokenFromRequest = %q, %v", got, ok)
		}
	})
}
