package auth

import (
	"context"

	"github.com/heraldhq/herald/internal/notify"
)

// Unexported key types, so that no other package can forge or overwrite an
// identity in a context.
type (
	serviceKey struct{}
	keyKey     struct{}
	userKey    struct{}
	claimsKey  struct{}
)

// WithKey returns ctx carrying the service key a request presented, and its
// service's name as WithService does. Handlers check topic scopes and rates
// against it.
func WithKey(ctx context.Context, k *Key) context.Context {
	return context.WithValue(WithService(ctx, k.Name), keyKey{}, k)
}

// KeyFrom returns the key stored by WithKey. A service without one
// (development mode) has no scope limits.
func KeyFrom(ctx context.Context) (*Key, bool) {
	k, ok := ctx.Value(keyKey{}).(*Key)
	return k, ok
}

// WithService returns ctx carrying the name of the authenticated service.
func WithService(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, serviceKey{}, name)
}

// ServiceFrom returns the authenticated service's name, if there is one.
func ServiceFrom(ctx context.Context) (string, bool) {
	name, ok := ctx.Value(serviceKey{}).(string)
	return name, ok
}

// WithUser returns ctx carrying the authenticated user.
func WithUser(ctx context.Context, id notify.UserID) context.Context {
	return context.WithValue(ctx, userKey{}, id)
}

// UserFrom returns the authenticated user, if there is one.
func UserFrom(ctx context.Context) (notify.UserID, bool) {
	id, ok := ctx.Value(userKey{}).(notify.UserID)
	return id, ok
}

// WithClaims returns ctx carrying a user's verified token claims, and the
// user as WithUser does. Streams need the expiry to end on time.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(WithUser(ctx, c.User), claimsKey{}, c)
}

// ClaimsFrom returns the claims stored by WithClaims, if any.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}
