package rest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/rpc"
	"github.com/heraldhq/herald/internal/store"
)

const apiKey = "hk_rest-test"

// countingAppender stores nothing and reports one entry per recipient.
type countingAppender struct{}

func (countingAppender) Append(_ context.Context, ds []store.Delivery) ([]store.Result, error) {
	out := make([]store.Result, len(ds))
	for i, d := range ds {
		out[i] = store.Result{ID: d.Notification.ID, Recipients: len(d.Recipients)}
	}
	return out, nil
}

// Publish stores nothing.
func (countingAppender) Publish(_ context.Context, _ *notify.Notification, cs []notify.Channel) ([]notify.Cursor, error) {
	return make([]notify.Cursor, len(cs)), nil
}

// start serves the REST handler in front of the Notify service, in process
// behind the service-key interceptor (not in dev mode), and returns the
// REST base URL.
func start(t *testing.T, opts *rest.Options) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	keys, err := auth.ParseAPIKeys([]string{"billing=" + auth.HashAPIKey(apiKey)})
	if err != nil {
		t.Fatal(err)
	}
	svc := ingest.New(router.New(nil), countingAppender{}, ingest.Options{})
	o := rest.Options{}
	if opts != nil {
		o = *opts
	}
	o.Interceptor = rpc.NewAuth(auth.Policy{Keys: keys, Log: log}).Unary()
	// Every service has routes, so that routing errors are those of the
	// whole API; only Notify does real work here.
	h, err := rest.New(rest.Services{Notify: rpc.NewNotifyServer(svc, log), Subscription: whoAmI{}, Inbox: whoAmI{}, Channel: heraldv1.UnimplementedChannelServiceServer{},
		Presence: rpc.NewPresenceServer(fakePresence{}, func() time.Time { return presenceNow }, log)}, o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, url, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
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
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (body %s)", ct, b)
	}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", b, err)
	}
	return r
}

func TestNotify(t *testing.T) {
	t.Parallel()
	base := start(t, nil)
	key := []string{"X-Api-Key", apiKey}
	tests := []struct {
		name   string
		path   string
		body   string
		header []string
		status int
		check  func(t *testing.T, r reply)
	}{
		{"proto names", "/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, key, 200, wantNotified(1)},
		{"lowerCamel", "/v1/notify", `{"audience":{"userIds":["alice","bob"]},"title":"Hi","idempotencyKey":"k","expireTime":"2999-01-01T00:00:00Z"}`, key, 200, wantNotified(2)},
		{"bearer key", "/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, []string{"Authorization", "Bearer " + apiKey}, 200, wantNotified(1)},
		{"batch", "/v1/notify:batch", `{"notifications":[{"audience":{"user_ids":["a"]},"title":"1"},{"audience":{"user_ids":["b","c"]},"title":"2"}]}`, key, 200,
			func(t *testing.T, r reply) {
				rs, _ := r.body["results"].([]any)
				if len(rs) != 2 {
					t.Fatalf("results = %v", r.body)
				}
				if n := rs[1].(map[string]any)["recipients"]; n != 2.0 {
					t.Errorf("second result recipients = %v, want 2", n)
				}
			}},
		{"invalid", "/v1/notify", `{"audience":{"user_ids":["alice",""]},"type":"a b"}`, key, 400,
			wantViolations("notification.audience.user_ids[1]", "notification.type", "notification.title")},
		{"invalid in batch", "/v1/notify:batch", `{"notifications":[{"audience":{"user_ids":["a"]},"title":"1"},{"title":"2"}]}`, key, 400,
			wantViolations("notifications[1].audience")},
		{"unknown field", "/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi","expire_tme":"2030-01-01T00:00:00Z"}`, key, 400, wantCode(3)},
		{"malformed JSON", "/v1/notify", `{"audience":`, key, 400, wantCode(3)},
		{"no key", "/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, nil, 401, wantChallenge},
		{"wrong key", "/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, []string{"X-Api-Key", "hk_wrong"}, 401, wantChallenge},
		{"key as grpc metadata header", "/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, []string{"Grpc-Metadata-X-Api-Key", apiKey}, 401, wantChallenge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, base+tt.path, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (body %v)", r.status, tt.status, r.body)
			}
			tt.check(t, r)
		})
	}
}

func wantNotified(recipients float64) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if id, _ := r.body["id"].(string); id == "" {
			t.Errorf("no id in %v", r.body)
		}
		// Responses use proto names and include zero values.
		if r.body["recipients"] != recipients || r.body["duplicate"] != false {
			t.Errorf("body = %v, want recipients %v, duplicate false", r.body, recipients)
		}
	}
}

func wantCode(code float64) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if r.body["code"] != code || r.body["message"] == "" {
			t.Errorf("body = %v, want code %v with a message", r.body, code)
		}
	}
}

func wantViolations(fields ...string) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		wantCode(3)(t, r)
		var got []string
		details, _ := r.body["details"].([]any)
		for _, d := range details {
			d, _ := d.(map[string]any)
			if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
				continue
			}
			vs, _ := d["field_violations"].([]any)
			for _, v := range vs {
				got = append(got, v.(map[string]any)["field"].(string))
			}
		}
		if strings.Join(got, ",") != strings.Join(fields, ",") {
			t.Errorf("field violations = %q, want %q (body %v)", got, fields, r.body)
		}
	}
}

func wantChallenge(t *testing.T, r reply) {
	t.Helper()
	wantCode(16)(t, r)
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	base := start(t, &rest.Options{MaxBodyBytes: 100})
	big := `{"audience":{"user_ids":["alice"]},"title":"` + strings.Repeat("x", 200) + `"}`

	r := post(t, base+"/v1/notify", big, "X-Api-Key", apiKey)
	if r.status != http.StatusRequestEntityTooLarge || r.body["message"] == "" {
		t.Errorf("with Content-Length: status %d body %v, want 413 JSON", r.status, r.body)
	}

	// Without Content-Length (chunked), the limit still holds.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/notify", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("X-Api-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: status %d, want 413", resp.StatusCode)
	}

	// A body within the limit passes.
	if r := post(t, base+"/v1/notify", `{"audience":{"user_ids":["a"]},"title":"Hi"}`, "X-Api-Key", apiKey); r.status != 200 {
		t.Errorf("small body: status %d, body %v", r.status, r.body)
	}
}
