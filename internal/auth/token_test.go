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
		// wantNoCookie is TokenWithoutCookie's answer when it differs.
		wantNoCookie *string
	}{
		{"nothing", "", "", "", "", nil},
		{"header", "Bearer h", "", "", "h", nil},
		{"header scheme case", "bEaReR h", "", "", "h", nil},
		{"header extra spaces", "Bearer   h  ", "", "", "h", nil},
		{"header wins over cookie and query", "Bearer h", "c", "q", "h", nil},
		{"cookie wins over query", "", "c", "q", "c", ptr("q")},
		{"cookie only", "", "c", "", "c", ptr("")},
		{"query", "", "", "q", "q", nil},
		{"basic header skipped", "Basic dXNlcjpwYXNz", "c", "", "c", ptr("")},
		{"empty bearer skipped", "Bearer ", "", "q", "q", nil},
		{"bearer without space", "Bearerh", "", "q", "q", nil},
		{"empty cookie skipped", "", " ", "q", "q", nil},
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
			want := tt.want
			if tt.wantNoCookie != nil {
				want = *tt.wantNoCookie
			}
			if got, ok := auth.TokenWithoutCookie(r); ok != (want != "") || got != want {
				t.Errorf("TokenWithoutCookie = %q, %v; want %q", got, ok, want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

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
