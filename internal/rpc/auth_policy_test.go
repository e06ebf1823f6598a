package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/rpc"
)

var (
	secret  = []byte("0123456789abcdef0123456789abcdef")
	other   = []byte("ffffffffffffffffffffffffffffffff")
	testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

const (
	inboxMethod  = "/herald.v1.InboxService/ListInbox"
	streamMethod = "/herald.v1.InboxService/Stream"
	subsMethod   = "/herald.v1.SubscriptionService/Subscribe"
	notifyMethod = "/herald.v1.NotifyService/Notify"
	presMethod   = "/herald.v1.PresenceService/GetPresence"
)

type policyCase struct {
	name, method string
	md           metadata.MD
	code         codes.Code
	user         string // expected user in the context
	service      string // expected service in the context
}

// policyCases checks both interceptors against one matrix: the service of
// the method decides which credential counts.
func policyCases(t *testing.T) (auth.Policy, []policyCase, string) {
	t.Helper()
	const key = "hk_policy"
	keys, err := auth.ParseAPIKeys([]string{"billing=" + auth.HashAPIKey(key)})
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
	expired, _ := auth.MintHS256(secret, "alice", time.Minute, "", "", testNow.Add(-time.Hour))
	forged, _ := auth.MintHS256(other, "alice", time.Hour, "", "", testNow)
	bearer := func(tok string) metadata.MD { return metadata.Pairs("authorization", "Bearer "+tok) }
	p := auth.Policy{Keys: keys, Users: v, Dev: true}
	cases := []policyCase{
		{"inbox with token", inboxMethod, bearer(alice), codes.OK, "alice", ""},
		{"stream with token", streamMethod, bearer(alice), codes.OK, "alice", ""},
		{"inbox without credential, dev mode", inboxMethod, nil, codes.Unauthenticated, "", ""},
		{"inbox with API key", inboxMethod, metadata.Pairs("x-api-key", key), codes.Unauthenticated, "", ""},
		{"inbox with API key as bearer", inboxMethod, bearer(key), codes.Unauthenticated, "", ""},
		{"inbox with expired token", inboxMethod, bearer(expired), codes.Unauthenticated, "", ""},
		{"inbox with forged token", inboxMethod, bearer(forged), codes.Unauthenticated, "", ""},
		{"inbox with basic scheme", inboxMethod, metadata.Pairs("authorization", "Basic "+alice), codes.Unauthenticated, "", ""},
		{"inbox with user id metadata only", inboxMethod, metadata.Pairs("x-user-id", "alice", "user_id", "alice"), codes.Unauthenticated, "", ""},
		{"subscription with key", subsMethod, metadata.Pairs("x-api-key", key), codes.OK, "", "billing"},
		{"subscription with user token", subsMethod, bearer(alice), codes.Unauthenticated, "", ""},
		{"subscription without key, dev mode", subsMethod, nil, codes.OK, "", auth.DevService},
		{"notify with key", notifyMethod, metadata.Pairs("authorization", "Bearer "+key), codes.OK, "", "billing"},
		{"presence with key", presMethod, metadata.Pairs("x-api-key", key), codes.OK, "", "billing"},
		{"presence with user token", presMethod, bearer(alice), codes.Unauthenticated, "", ""},
		{"presence without key, dev mode", presMethod, nil, codes.OK, "", auth.DevService},
		{"unknown herald service", "/herald.v1.AdminService/Wipe", bearer(alice), codes.PermissionDenied, "", ""},
		{"health open", "/grpc.health.v1.Health/Check", nil, codes.OK, "", ""},
	}
	return p, cases, alice
}

func TestPolicyUnary(t *testing.T) {
	t.Parallel()
	p, cases, _ := policyCases(t)
	icpt := rpc.NewAuth(p).Unary()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.NewIncomingContext(context.Background(), tt.md)
			var user, service string
			_, err := icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(ctx context.Context, _ any) (any, error) {
				u, _ := auth.UserFrom(ctx)
				user = string(u)
				service, _ = auth.ServiceFrom(ctx)
				return nil, nil
			})
			checkPolicy(t, tt, err, user, service)
		})
	}
}

func TestPolicyStream(t *testing.T) {
	t.Parallel()
	p, cases, _ := policyCases(t)
	icpt := rpc.NewAuth(p).Stream()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.NewIncomingContext(context.Background(), tt.md)
			var user, service string
			var claims auth.Claims
			err := icpt(nil, fakeStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: tt.method}, func(_ any, ss grpc.ServerStream) error {
				u, _ := auth.UserFrom(ss.Context())
				user = string(u)
				service, _ = auth.ServiceFrom(ss.Context())
				claims, _ = auth.ClaimsFrom(ss.Context())
				return nil
			})
			checkPolicy(t, tt, err, user, service)
			if tt.user != "" && !claims.Expiry.Equal(testNow.Add(time.Hour)) {
				t.Errorf("claims expiry = %v, want the token's (streams end with it)", claims.Expiry)
			}
		})
	}
}

func checkPolicy(t *testing.T, tt policyCase, err error, user, service string) {
	t.Helper()
	if status.Code(err) != tt.code {
		t.Fatalf("err = %v, want %v", err, tt.code)
	}
	if user != tt.user || service != tt.service {
		t.Errorf("user, service = %q, %q; want %q, %q", user, service, tt.user, tt.service)
	}
	if err != nil {
		// The refusal must not hand the credential back.
		for _, vs := range tt.md {
			for _, v := range vs {
				if tok := strings.TrimPrefix(v, "Bearer "); len(tok) > 8 && strings.Contains(status.Convert(err).Message(), tok) {
					t.Errorf("error %q echoes the credential", err)
				}
			}
		}
	}
}

func TestPolicyWithoutVerifierRefusesUsers(t *testing.T) {
	t.Parallel()
	tok, _ := auth.MintHS256(secret, "alice", time.Hour, "", "", time.Now())
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	_, err := rpc.NewAuth(auth.Policy{Dev: true}).Unary()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: inboxMethod}, func(context.Context, any) (any, error) {
		t.Error("handler ran without a verifier")
		return nil, nil
	})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
}
