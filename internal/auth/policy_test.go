package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// TestAuthenticate checks the Policy without a transport: who a request's
// credentials make it, and which kind of refusal otherwise. rpc's tests
// check the statuses that carry these refusals to clients.
func TestAuthenticate(t *testing.T) {
	t.Parallel()
	const key = "hk_policy"
	keys, err := auth.ParseKeyFile([]byte(
		"name=billing hash=" + auth.HashAPIKey(key) + "\n" +
			"name=subs hash=" + auth.HashAPIKey("hk_subs") + " methods=Subscribe\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := auth.NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewHS256(secret, auth.JWTOptions{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := auth.MintHS256(secret, "alice", time.Hour, "", "", testNow)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(s string) auth.Credentials {
		return auth.Credentials{Authorization: "Bearer " + s, HasAuthorization: true}
	}
	apiKey := func(s string) auth.Credentials { return auth.Credentials{APIKey: s, HasAPIKey: true} }
	const (
		inbox    = "/herald.v1.InboxService/ListInbox"
		notify   = "/herald.v1.NotifyService/Notify"
		presence = "/herald.v1.PresenceService/GetPresence"
	)
	tests := []struct {
		name    string
		method  string
		creds   auth.Credentials
		want    error  // nil, auth.ErrUnauthenticated or auth.ErrPermissionDenied
		msg     string // part of the refusal's text
		user    string
		service string
	}{
		{"user token", inbox, bearer(alice), nil, "", "alice", ""},
		{"user without credential", inbox, auth.Credentials{}, auth.ErrUnauthenticated, "missing user credential", "", ""},
		{"user with API key", inbox, apiKey(key), auth.ErrUnauthenticated, "missing user credential", "", ""},
		{"user with bad token", inbox, bearer("x.y.z"), auth.ErrUnauthenticated, "invalid user token", "", ""},
		{"key as bearer", notify, bearer(key), nil, "", "", "billing"},
		{"key as x-api-key", notify, apiKey(" " + key + " "), nil, "", "", "billing"},
		{"authorization wins over x-api-key", notify, auth.Credentials{Authorization: "Bearer hk_wrong", HasAuthorization: true, APIKey: key, HasAPIKey: true}, auth.ErrUnauthenticated, "unknown API key", "", ""},
		{"no key", notify, auth.Credentials{}, auth.ErrUnauthenticated, "missing API key", "", ""},
		{"malformed key header", notify, auth.Credentials{Authorization: "Basic eA==", HasAuthorization: true}, auth.ErrUnauthenticated, "malformed API key header", "", ""},
		{"empty authorization", notify, auth.Credentials{HasAuthorization: true}, auth.ErrUnauthenticated, "malformed API key header", "", ""},
		{"key outside its methods", notify, apiKey("hk_subs"), auth.ErrPermissionDenied, `"subs" may not call Notify`, "", ""},
		{"presence with a key of every method", presence, apiKey(key), nil, "", "", "billing"},
		{"presence outside the key's methods", presence, apiKey("hk_subs"), auth.ErrPermissionDenied, `"subs" may not call GetPresence`, "", ""},
		{"presence with a user token", presence, bearer(alice), auth.ErrUnauthenticated, "unknown API key", "", ""},
		{"unknown Herald service", "/herald.v1.AdminService/Wipe", bearer(alice), auth.ErrPermissionDenied, "not open to any credential", "", ""},
		{"outside Herald", "/grpc.health.v1.Health/Check", auth.Credentials{}, nil, "", "", ""},
	}
	a := auth.NewAuthenticator(auth.Policy{Keys: set, Users: v, Log: slog.New(slog.DiscardHandler)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, err := a.Authenticate(context.Background(), tt.method, tt.creds)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %v saying %q", err, tt.want, tt.msg)
				}
				if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), alice) {
					t.Errorf("err %q carries the credential", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			u, _ := auth.UserFrom(ctx)
			s, _ := auth.ServiceFrom(ctx)
			if string(u) != tt.user || s != tt.service {
				t.Errorf("user, service = %q, %q; want %q, %q", u, s, tt.user, tt.service)
			}
		})
	}
}
