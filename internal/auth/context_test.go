package auth_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
)

func TestContextIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, ok := auth.ServiceFrom(ctx); ok {
		t.Error("empty context has a service")
	}
	if _, ok := auth.UserFrom(ctx); ok {
		t.Error("empty context has a user")
	}
	ctx = auth.WithUser(auth.WithService(ctx, "billing"), "alice")
	if s, ok := auth.ServiceFrom(ctx); !ok || s != "billing" {
		t.Errorf("ServiceFrom = %q, %v", s, ok)
	}
	if u, ok := auth.UserFrom(ctx); !ok || u != "alice" {
		t.Errorf("UserFrom = %q, %v", u, ok)
	}
	// A plain string key cannot forge an identity.
	type key string
	forged := context.WithValue(context.Background(), key("user"), "mallory")
	if _, ok := auth.UserFrom(forged); ok {
		t.Error("forged context has a user")
	}
}

func TestContextKey(t *testing.T) {
	t.Parallel()
	k := &auth.Key{Name: "billing", Topics: []string{"a/*"}}
	ctx := auth.WithKey(context.Background(), k)
	if got, ok := auth.KeyFrom(ctx); !ok || got != k {
		t.Errorf("KeyFrom = %v, %v", got, ok)
	}
	if name, ok := auth.ServiceFrom(ctx); !ok || name != "billing" {
		t.Errorf("ServiceFrom = %q, %v; want the key's name", name, ok)
	}
	if _, ok := auth.KeyFrom(auth.WithService(context.Background(), auth.DevService)); ok {
		t.Error("KeyFrom found a key in a context without one")
	}
}
