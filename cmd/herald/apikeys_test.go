package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
)

// writeKeyFile replaces the key file the way a deploy tool does: a new file
// renamed over the old one, so that the server never reads half of it.
func writeKeyFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func keyFileLine(name, key, scopes string) string {
	return strings.TrimSpace("name=" + name + " hash=" + auth.HashAPIKey(key) + " " + scopes)
}

func keyCtx(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func grpcNotify(ctx context.Context, c heraldv1.NotifyServiceClient, key string, topics []string, user, title string) (*heraldv1.NotifyResponse, error) {
	a := &heraldv1.Audience{Topics: topics}
	if user != "" {
		a.UserIds = []string{user}
	}
	return c.Notify(keyCtx(ctx, key), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{Audience: a, Title: title}})
}

// waitKeys polls cond until it holds, for at most 15 seconds (the server
// polls the key file every 2).
func waitKeys(t *testing.T, s *server, what string, cond func() bool) {
	t.Helper()
	waitFor(t, 15*time.Second, cond, func() string { return "waiting for " + what + "; logs:\n" + s.Logs() })
}

// TestAPIKeyRotation rotates a service key without a restart: by rewriting
// the key file and by SIGHUP; a bad file keeps the keys in force.
func TestAPIKeyRotation(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	const oldKey, newKey, hupKey = "hk_rotation_old", "hk_rotation_new", "hk_rotation_hup"
	writeKeyFile(t, file, "# billing's key", keyFileLine("billing", oldKey, ""))
	s := startServer(t, withArgs("--api-keys-file="+file))
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	accepts := func(key string) bool {
		_, err := grpcNotify(ctx, c, key, nil, "rot-user", "key check")
		if err != nil && status.Code(err) != codes.Unauthenticated {
			t.Fatalf("Notify with %s: %v", key, err)
		}
		return err == nil
	}
	if !accepts(oldKey) || accepts(newKey) || !accepts(testAPIKey) {
		t.Fatal("at start: want the file's key and --api-keys's key accepted, the new key refused")
	}

	// Overlap, then the old key removed: each swap seen without a restart.
	writeKeyFile(t, file, keyFileLine("billing", oldKey, ""), keyFileLine("billing", newKey, ""))
	waitKeys(t, s, "the new key", func() bool { return accepts(newKey) })
	writeKeyFile(t, file, keyFileLine("billing", newKey, ""))
	waitKeys(t, s, "the old key refused", func() bool { return !accepts(oldKey) })
	if r := restWithKey(t, s, http.MethodPost, "/v1/notify", oldKey, `{"audience":{"user_ids":["rot-user"]},"title":"x"}`); r.status != http.StatusUnauthorized {
		t.Errorf("REST with the removed key: %d %v, want 401", r.status, r.body)
	}
	if r := restWithKey(t, s, http.MethodPost, "/v1/notify", newKey, `{"audience":{"user_ids":["rot-user"]},"title":"x"}`); r.status != http.StatusOK {
		t.Errorf("REST with the new key: %d %v, want 200", r.status, r.body)
	}

	// A bad file is logged with its line and changes nothing.
	writeKeyFile(t, file, keyFileLine("billing", oldKey, ""), "name=billing hash=sha256:123")
	waitKeys(t, s, "the reload error", func() bool { return strings.Contains(s.Logs(), "API keys not reloaded") })
	if !strings.Contains(s.Logs(), "line 2") {
		t.Errorf("reload error does not name the line:\n%s", s.Logs())
	}
	if accepts(oldKey) || !accepts(newKey) {
		t.Fatal("a bad file changed the keys in force")
	}

	// SIGHUP reads the file at once.
	writeKeyFile(t, file, keyFileLine("billing", hupKey, ""))
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitKeys(t, s, "the SIGHUP reload", func() bool { return strings.Contains(s.Logs(), `"trigger":"sighup"`) })
	if !accepts(hupKey) || accepts(newKey) {
		t.Fatal("after SIGHUP: want only the new file's key")
	}
	select {
	case <-s.exited:
		t.Fatal("herald exited on SIGHUP")
	default:
	}
}

// TestAPIKeyScopes checks a key limited to some methods and topics over
// gRPC and REST.
func TestAPIKeyScopes(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	const key = "hk_scoped_orders"
	writeKeyFile(t, file, keyFileLine("orders", key, "methods=Notify,NotifyBatch,Subscribe topics=order:*,shop/*"))
	s := startServer(t, withArgs("--api-keys-file="+file))
	conn := grpcConn(t, s.GRPCAddr)
	nc := heraldv1.NewNotifyServiceClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	if _, err := grpcNotify(ctx, nc, key, []string{"order:1", "shop/eu"}, "", "in scope"); err != nil {
		t.Errorf("topics in scope: %v", err)
	}
	_, err := grpcNotify(ctx, nc, key, []string{"order:1", "payroll"}, "", "out of scope")
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), `topic "payroll"`) {
		t.Errorf("gRPC topic out of scope: %v, want PermissionDenied naming payroll", err)
	}
	r := restWithKey(t, s, http.MethodPost, "/v1/notify", key, `{"audience":{"topics":["shop/eu/de"]},"title":"x"}`)
	if msg, _ := r.body["message"].(string); r.status != http.StatusForbidden || !strings.Contains(msg, `topic "shop/eu/de"`) {
		t.Errorf("REST topic out of scope: %d %v, want 403 naming shop/eu/de", r.status, r.body)
	}
	r = restWithKey(t, s, http.MethodPost, "/v1/notify:batch", key, `{"notifications":[{"audience":{"topics":["order:2"]},"title":"a"},{"audience":{"topics":["x"]},"title":"b"}]}`)
	if msg, _ := r.body["message"].(string); r.status != http.StatusForbidden || !strings.Contains(msg, "notifications[1]") {
		t.Errorf("REST batch with a topic out of scope: %d %v, want 403 naming notifications[1]", r.status, r.body)
	}
	r = restWithKey(t, s, http.MethodPost, "/v1/subscriptions:subscribe", key, `{"topics":["order:9"],"user_ids":["scope-user"]}`)
	if r.status != http.StatusOK {
		t.Errorf("REST subscribe in scope: %d %v", r.status, r.body)
	}
	r = restWithKey(t, s, http.MethodPost, "/v1/subscriptions:subscribe", key, `{"topics":["payroll"],"user_ids":["scope-user"]}`)
	if r.status != http.StatusForbidden {
		t.Errorf("REST subscribe out of scope: %d %v, want 403", r.status, r.body)
	}
	// Unsubscribe is not among the key's methods.
	sc := heraldv1.NewSubscriptionServiceClient(conn)
	_, err = sc.Unsubscribe(keyCtx(ctx, key), &heraldv1.UnsubscribeRequest{Topics: []string{"order:9"}, UserIds: []string{"scope-user"}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Unsubscribe") {
		t.Errorf("gRPC method out of scope: %v, want PermissionDenied naming Unsubscribe", err)
	}
	r = restWithKey(t, s, http.MethodGet, "/v1/subscriptions/subscribers?topic=order:9", key, "")
	if r.status != http.StatusForbidden {
		t.Errorf("REST method out of scope: %d %v, want 403", r.status, r.body)
	}
}

// TestAPIKeyRateLimit sends faster than a key's rate over REST and gRPC:
// refusals say when to retry, and every accepted notification is in the
// inbox.
func TestAPIKeyRateLimit(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	const key, user = "hk_rate_limited", "rate-user"
	writeKeyFile(t, file, keyFileLine("slow", key, "rate=2 burst=4"))
	// The default rate does not apply to a key with its own.
	s := startServer(t, withArgs("--api-keys-file="+file, "--notify-rate=1000"))
	nc := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	accepted := map[string]bool{}
	var restLimited, grpcLimited int
	for i := 0; i < 40 && (restLimited == 0 || grpcLimited == 0); i++ {
		title := fmt.Sprintf("n%d", i)
		if i%2 == 0 {
			r := restWithKey(t, s, http.MethodPost, "/v1/notify", key, `{"audience":{"user_ids":["`+user+`"]},"title":"`+title+`"}`)
			switch r.status {
			case http.StatusOK:
				accepted[r.body["id"].(string)] = true
			case http.StatusTooManyRequests:
				restLimited++
				if ra := r.header.Get("Retry-After"); ra != "1" {
					t.Errorf("Retry-After = %q, want 1 (a token every 500ms)", ra)
				}
				if msg, _ := r.body["message"].(string); !strings.Contains(msg, `"slow"`) || r.body["code"] != float64(codes.ResourceExhausted) {
					t.Errorf("429 body %v, want the status JSON naming the service", r.body)
				}
			default:
				t.Fatalf("REST notify: %d %v", r.status, r.body)
			}
			continue
		}
		resp, err := grpcNotify(ctx, nc, key, nil, user, title)
		switch status.Code(err) {
		case codes.OK:
			accepted[resp.GetId()] = true
		case codes.ResourceExhausted:
			grpcLimited++
			var retry time.Duration
			for _, d := range status.Convert(err).Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri.GetRetryDelay().AsDuration()
				}
			}
			if retry <= 0 || retry > 500*time.Millisecond {
				t.Errorf("RetryInfo delay %v, want (0, 500ms]", retry)
			}
		default:
			t.Fatalf("gRPC notify: %v", err)
		}
	}
	if restLimited == 0 || grpcLimited == 0 {
		t.Fatalf("never limited: REST %d, gRPC %d", restLimited, grpcLimited)
	}
	if len(accepted) < 4 {
		t.Errorf("accepted %d, want at least the burst of 4", len(accepted))
	}
	// A batch over the burst can never pass.
	r := restWithKey(t, s, http.MethodPost, "/v1/notify:batch", key, `{"notifications":[`+strings.TrimSuffix(strings.Repeat(`{"audience":{"user_ids":["`+user+`"]},"title":"b"},`, 5), ",")+`]}`)
	if r.status != http.StatusBadRequest {
		t.Errorf("batch of 5 with a burst of 4: %d %v, want 400", r.status, r.body)
	}

	var l restList
	if code, b := restCall(t, s, http.MethodGet, "/v1/inbox?page_size=100", bearerFor(t, user), nil, &l); code != http.StatusOK {
		t.Fatalf("inbox: %d %s", code, b)
	}
	got := map[string]bool{}
	for _, e := range l.Entries {
		got[e.Event.ID] = true
	}
	for id := range accepted {
		if !got[id] {
			t.Errorf("accepted notification %s not in the inbox", id)
		}
	}
	if len(got) != len(accepted) {
		t.Errorf("inbox holds %d entries, %d were accepted", len(got), len(accepted))
	}
	t.Logf("accepted %d, refused REST %d, gRPC %d", len(accepted), restLimited, grpcLimited)
}
