package rpc_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
)

// Dev mode without keys takes any key a client sends, as the dev service:
// the README and --api-key's help say a key is merely not needed there.
func TestDevWithoutKeysTakesAnyKey(t *testing.T) {
	t.Parallel()
	for _, keys := range []*auth.APIKeys{nil, mustKeys(t)} {
		c := heraldv1.NewNotifyServiceClient(startServer(t, keys, true))
		for _, md := range [][]string{
			nil,
			{"authorization", "Bearer hk_from_production"},
			{"x-api-key", "hk_whatever"},
			{"authorization", "Basic dXNlcjpwdw=="},
		} {
			ctx := metadata.AppendToOutgoingContext(context.Background(), md...)
			resp, err := c.Notify(ctx, &heraldv1.NotifyRequest{})
			if keys.Len() > 0 && md != nil {
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("dev with keys, metadata %q: err = %v, want Unauthenticated", md, err)
				}
				continue
			}
			if err != nil || resp.GetId() != auth.DevService {
				t.Errorf("dev with %d keys, metadata %q: service %q, err %v; want %q", keys.Len(), md, resp.GetId(), err, auth.DevService)
			}
		}
	}
}

// Refusals say how to send a key, or which key was refused and where the
// server looks for it.
func TestServiceRefusalsNameTheFix(t *testing.T) {
	t.Parallel()
	keys := mustKeys(t)
	c := heraldv1.NewNotifyServiceClient(startServer(t, keys, false))
	tests := []struct {
		name string
		md   []string
		want []string
	}{
		{"no key", nil, []string{
			`missing API key: send "authorization: Bearer <key>" or "x-api-key: <key>"`,
			"heraldctl takes --api-key or HERALD_API_KEY",
		}},
		{"unknown key", []string{"x-api-key", "hk_wrong"}, []string{
			"unknown API key (" + auth.HashAPIKey("hk_wrong")[:15] + "…)",
			"--api-keys nor --api-keys-file",
		}},
		{"not bearer", []string{"authorization", "Basic dXNlcjpwdw=="}, []string{
			`malformed API key header: want "authorization: Bearer <key>"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.AppendToOutgoingContext(context.Background(), tt.md...)
			_, err := c.Notify(ctx, &heraldv1.NotifyRequest{})
			st, _ := status.FromError(err)
			if st.Code() != codes.Unauthenticated {
				t.Fatalf("err = %v, want Unauthenticated", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q lacks %q", st.Message(), w)
				}
			}
			if strings.Contains(st.Message(), "hk_wrong") {
				t.Errorf("message %q shows the key", st.Message())
			}
		})
	}
}

func mustKeys(t *testing.T) *auth.APIKeys {
	t.Helper()
	keys, err := auth.ParseAPIKeys([]string{"billing=" + auth.HashAPIKey("hk_test-key")})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
