package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

func BenchmarkVerifyHS256(b *testing.B) {
	v, err := auth.NewHS256(secret, auth.JWTOptions{Audience: audience, Issuer: issuer, Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := auth.MintHS256(secret, "alice", time.Hour, audience, issuer, testNow)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAPIKeyLookup(b *testing.B) {
	key, _ := auth.NewAPIKey()
	keys, err := auth.ParseAPIKeys([]string{"svc=" + auth.HashAPIKey(key)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := keys.Lookup(key); !ok {
			b.Fatal("not found")
		}
	}
}
