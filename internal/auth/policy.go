package auth

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Method prefixes of Herald's services, by the credential they need.
const (
	SubscriptionServicePrefix = "/herald.v1.SubscriptionService/"
	InboxServicePrefix        = "/herald.v1.InboxService/"
	// heraldPrefix covers every Herald service: a method under it that no
	// rule names is refused, so that a new service is never open by
	// accident.
	heraldPrefix = "/herald."
)

// KeySet finds the service key a request presented; *APIKeys and *KeyRing
// implement it.
type KeySet interface {
	Find(key string) (*Key, bool)
}

// Verifier checks a user token; *JWTVerifier implements it.
type Verifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// Policy says which credential a gRPC method needs, by its service: a
// service API key or a user token. Methods
// outside Herald's services (health, reflection) need none.
type Policy struct {
	// Keys are the service keys; a *KeyRing lets them change while the
	// server runs. Nil holds none.
	Keys  KeySet
	Users Verifier
	// Dev lets requests without an API key through as DevService, and
	// those with one too while Keys holds none (see serviceAuth). It never
	// lets a request through without a user token: users must present one
	// (GET /v1/dev/token mints it in development).
	Dev bool
	Log *slog.Logger
	// ServicePrefixes are the methods that need an API key; default
	// NotifyService and SubscriptionService.
	ServicePrefixes []string
	// UserPrefixes are the methods that need a user token; default
	// InboxService.
	UserPrefixes []string
}

// Unary returns the interceptor that enforces p on unary calls. A user is
// put in the context with WithClaims, a service with WithService.
func Unary(p Policy) grpc.UnaryServerInterceptor {
	pa := newPolicyAuth(p)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := pa.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the streaming counterpart of Unary.
func Stream(p Policy) grpc.StreamServerInterceptor {
	pa := newPolicyAuth(p)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := pa.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if ctx == ss.Context() {
			return handler(srv, ss)
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

type policyAuth struct {
	services *serviceAuth
	users    Verifier
	userPfx  []string
	log      *slog.Logger
}

func newPolicyAuth(p Policy) *policyAuth {
	if len(p.ServicePrefixes) == 0 {
		p.ServicePrefixes = []string{NotifyServicePrefix, SubscriptionServicePrefix}
	}
	if len(p.UserPrefixes) == 0 {
		p.UserPrefixes = []string{InboxServicePrefix}
	}
	sa := newServiceAuth(p.Keys, p.Dev, p.Log, p.ServicePrefixes)
	return &policyAuth{services: sa, users: p.Users, userPfx: append([]string(nil), p.UserPrefixes...), log: sa.log}
}

var (
	errNoToken      = status.Error(codes.Unauthenticated, "missing user credential: send authorization: Bearer <token>")
	errBadToken     = status.Error(codes.Unauthenticated, "invalid user token")
	errNoPolicyRule = status.Error(codes.PermissionDenied, "method not open to any credential")
)

func (pa *policyAuth) authenticate(ctx context.Context, method string) (context.Context, error) {
	switch {
	case hasAnyPrefix(method, pa.userPfx):
		return pa.user(ctx, method)
	case pa.services.applies(method):
		return pa.services.authenticate(ctx, method)
	case strings.HasPrefix(method, heraldPrefix):
		pa.log.ErrorContext(ctx, "no credential rule for method; refused", "method", method)
		return nil, errNoPolicyRule
	default:
		return ctx, nil
	}
}

// user verifies the bearer token of the metadata. Neither the reply nor the
// log carries the token, only why it was refused.
func (pa *policyAuth) user(ctx context.Context, method string) (context.Context, error) {
	vs := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vs) == 0 {
		return nil, errNoToken
	}
	tok, ok := bearer(vs[0])
	if !ok || pa.users == nil {
		return nil, errBadToken
	}
	c, err := pa.users.Verify(ctx, tok)
	if err != nil {
		pa.log.DebugContext(ctx, "user token refused", "method", method, "err", err)
		return nil, errBadToken
	}
	return WithClaims(ctx, c), nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
