package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/rpc"
)

var jwtSecret = []byte("0123456789abcdef0123456789abcdef")

// whoAmI answers with the identity the interceptors put in the context.
type whoAmI struct {
	heraldv1.UnimplementedInboxServiceServer
	heraldv1.UnimplementedSubscriptionServiceServer
}

func (whoAmI) ListMySubscriptions(ctx context.Context, _ *heraldv1.ListMySubscriptionsRequest) (*heraldv1.ListMySubscriptionsResponse, error) {
	u, _ := auth.UserFrom(ctx)
	return &heraldv1.ListMySubscriptionsResponse{Topics: []string{string(u)}}, nil
}

func (whoAmI) ListUserTopics(ctx context.Context, req *heraldv1.ListUserTopicsRequest) (*heraldv1.ListUserTopicsResponse, error) {
	s, _ := auth.ServiceFrom(ctx)
	return &heraldv1.ListUserTopicsResponse{Topics: []string{s, req.GetUserId()}}, nil
}

// startAuthed boots both services behind the credential policy, with the
// REST handler in front.
func startAuthed(t *testing.T) string {
	t.Helper()
	keys, err := auth.ParseAPIKeys([]string{"billing=" + auth.HashAPIKey(apiKey)})
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.NewHS256(jwtSecret, auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Policy{Keys: keys, Users: users}
	h, err := rest.New(rest.Services{Inbox: whoAmI{}, Subscription: whoAmI{}}, rest.Options{Interceptor: rpc.NewAuth(p).Unary()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestUserCredentialReachesInboxService(t *testing.T) {
	t.Parallel()
	base := startAuthed(t)
	tok := func(user string) string {
		s, err := auth.MintHS256(jwtSecret, user, time.Hour, "", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	alice, bob := tok("alice"), tok("bob")
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		status  int
		want    string // first topic of the reply
	}{
		{"bearer", "/v1/me/subscriptions", map[string]string{"Authorization": "Bearer " + alice}, 200, "alice"},
		{"query and headers name another user", "/v1/me/subscriptions?user_id=bob&userId=bob", map[string]string{
			"Authorization": "Bearer " + alice, "X-User-Id": "bob", "Grpc-Metadata-X-User-Id": "bob",
		}, 200, "alice"},
		{"forwarded metadata cannot override the header", "/v1/me/subscriptions", map[string]string{
			"Authorization": "Bearer " + alice, "Grpc-Metadata-Authorization": "Bearer " + bob,
		}, 200, "alice"},
		{"no credential", "/v1/me/subscriptions", nil, 401, ""},
		{"user id header only", "/v1/me/subscriptions", map[string]string{"X-User-Id": "alice"}, 401, ""},
		{"api key is not a user", "/v1/me/subscriptions", map[string]string{"X-Api-Key": apiKey}, 401, ""},
		{"user token is not a service", "/v1/subscriptions/topics?user_id=carol", map[string]string{"Authorization": "Bearer " + alice}, 401, ""},
		{"service key", "/v1/subscriptions/topics?user_id=carol", map[string]string{"X-Api-Key": apiKey}, 200, "billing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Topics  []string `json:"topics"`
				Message string   `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body.Message, tt.status)
			}
			if tt.want != "" && (len(body.Topics) == 0 || body.Topics[0] != tt.want) {
				t.Errorf("topics = %q, want first %q", body.Topics, tt.want)
			}
			if strings.Contains(body.Message, alice) {
				t.Errorf("message %q echoes the token", body.Message)
			}
		})
	}
}
