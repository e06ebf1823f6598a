package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/presence"
)

var presenceNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fakePresence: users named on* are online, seen* were seen an hour ago,
// others never; asking for "down" finds the presence store unavailable.
type fakePresence struct{}

func (fakePresence) Presence(_ context.Context, users []notify.UserID) ([]presence.State, error) {
	out := make([]presence.State, len(users))
	for i, u := range users {
		switch {
		case u == "down":
			return nil, &notify.UnavailableError{Dependency: "redis", Err: errors.New("dial tcp: refused")}
		case strings.HasPrefix(string(u), "on"):
			out[i] = presence.State{User: u, Online: true}
		case strings.HasPrefix(string(u), "seen"):
			out[i] = presence.State{User: u, LastSeen: presenceNow.Add(-time.Hour)}
		default:
			out[i] = presence.State{User: u}
		}
	}
	return out, nil
}

func get(t *testing.T, url string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
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
	r := reply{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", b, err)
	}
	return r
}

// wantUsers checks the users of a presence answer, as "id online last_seen".
func wantUsers(want ...string) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		var got []string
		us, _ := r.body["users"].([]any)
		for _, u := range us {
			u, _ := u.(map[string]any)
			seen, ok := u["last_seen_time"].(string)
			if !ok {
				seen = "-"
			}
			got = append(got, u["user_id"].(string)+" "+map[bool]string{true: "online", false: "offline"}[u["online"] == true]+" "+seen)
		}
		if !slices.Equal(got, want) {
			t.Errorf("users = %q, want %q (body %v)", got, want, r.body)
		}
	}
}

func TestPresence(t *testing.T) {
	t.Parallel()
	base := start(t, nil)
	key := []string{"X-Api-Key", apiKey}
	now, hourAgo := presenceNow.Format(time.RFC3339), presenceNow.Add(-time.Hour).Format(time.RFC3339)
	many := make([]string, 101)
	for i := range many {
		many[i] = "u" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	tests := []struct {
		name   string
		query  string
		header []string
		status int
		check  func(t *testing.T, r reply)
	}{
		{"comma-separated", "user_ids=on1,seen1,never", key, 200, wantUsers("on1 online "+now, "seen1 offline "+hourAgo, "never offline -")},
		{"repeated", "user_ids=on1&user_ids=never", key, 200, wantUsers("on1 online "+now, "never offline -")},
		{"both, with a repeat", "user_ids=on1,never&user_ids=seen1&user_ids=on1", key, 200, wantUsers("on1 online "+now, "never offline -", "seen1 offline "+hourAgo)},
		{"lowerCamel", "userIds=seen2", key, 200, wantUsers("seen2 offline " + hourAgo)},
		{"100 users", "user_ids=" + strings.Join(many[:100], ","), key, 200, func(t *testing.T, r reply) {
			if us, _ := r.body["users"].([]any); len(us) != 100 {
				t.Errorf("%d users, want 100", len(us))
			}
		}},
		{"101 users", "user_ids=" + strings.Join(many, ","), key, 400, wantViolations("user_ids")},
		{"none", "", key, 400, wantViolations("user_ids")},
		{"empty", "user_ids=", key, 400, wantViolations("user_ids[0]")},
		{"bad ID", "user_ids=" + url.QueryEscape("ok,a\nb,"), key, 400, wantViolations("user_ids[1]", "user_ids[2]")},
		{"no key", "user_ids=on1", nil, 401, wantChallenge},
		{"unavailable", "user_ids=on1,down", key, 503, func(t *testing.T, r reply) {
			wantCode(14)(t, r)
			if msg, _ := r.body["message"].(string); !strings.Contains(msg, "presence (redis)") {
				t.Errorf("message %q, want the presence store named", msg)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := get(t, base+"/v1/presence?"+tt.query, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (body %v)", r.status, tt.status, r.body)
			}
			tt.check(t, r)
		})
	}
}
