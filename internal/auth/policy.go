package auth

import (
	"context"
	"log/slog"
	"strings"
)

// Method prefixes of Herald's services, by the credential they need.
const (
	SubscriptionServicePrefix = "/herald.v1.SubscriptionService/"
	InboxServicePrefix        = "/herald.v1.InboxService/"
	ChannelServicePrefix      = "/herald.v1.ChannelService/"
	PresenceServicePrefix     = "/herald.v1.PresenceService/"
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

// Policy says which credential a method needs, by its service: a service
// API key or a user token. Methods outside Herald's services (health,
// reflection) need none. An Authenticator applies it.
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
	// NotifyService, SubscriptionService and PresenceService.
	ServicePrefixes []string
	// UserPrefixes are the methods that need a user token; default
	// InboxService.
	UserPrefixes []string
	// OptionalUserPrefixes are the methods that take a user token if one
	// is presented (a bad one is refused) and also serve callers with
	// none, whom the method itself judges; default ChannelService, whose
	// anonymous channels need no token.
	OptionalUserPrefixes []string
}

// Credentials are the credential headers of a request as its transport
// found them: gRPC metadata, or the HTTP headers the REST gateway forwards
// as metadata. Each is the header's first value, and whether the request
// carried the header at all, even empty, so that a malformed credential is
// never taken for none.
type Credentials struct {
	// Authorization is "Bearer <key or token>".
	Authorization    string
	HasAuthorization bool
	// APIKey is the x-api-key header, a service key; an Authorization
	// header takes precedence.
	APIKey    string
	HasAPIKey bool
}

// Authenticator applies a Policy to requests. It is safe for concurrent use.
type Authenticator struct {
	services *serviceAuth
	users    Verifier
	userPfx  []string
	optPfx   []string
	log      *slog.Logger
}

// NewAuthenticator returns an Authenticator enforcing p.
func NewAuthenticator(p Policy) *Authenticator {
	if len(p.ServicePrefixes) == 0 {
		p.ServicePrefixes = []string{NotifyServicePrefix, SubscriptionServicePrefix, PresenceServicePrefix}
	}
	if len(p.UserPrefixes) == 0 {
		p.UserPrefixes = []string{InboxServicePrefix}
	}
	if len(p.OptionalUserPrefixes) == 0 {
		p.OptionalUserPrefixes = []string{ChannelServicePrefix}
	}
	sa := newServiceAuth(p.Keys, p.Dev, p.Log, p.ServicePrefixes)
	return &Authenticator{
		services: sa,
		users:    p.Users,
		userPfx:  append([]string(nil), p.UserPrefixes...),
		optPfx:   append([]string(nil), p.OptionalUserPrefixes...),
		log:      sa.log,
	}
}

var (
	errNoToken      = unauthenticated("missing user credential: send authorization: Bearer <token>")
	errBadToken     = unauthenticated("invalid user token")
	errNoPolicyRule = permissionDenied("method not open to any credential")
)

// Authenticate checks the credentials c a request presented for method, a
// full method name ("/herald.v1.NotifyService/Notify"). It returns ctx
// carrying who presented them: a user with WithClaims, a service with
// WithKey, or WithService in development mode; a method outside Herald's
// services gets ctx itself. A refusal wraps ErrUnauthenticated or
// ErrPermissionDenied.
func (a *Authenticator) Authenticate(ctx context.Context, method string, c Credentials) (context.Context, error) {
	switch {
	case hasAnyPrefix(method, a.userPfx):
		return a.user(ctx, method, c)
	case hasAnyPrefix(method, a.optPfx):
		if !c.HasAuthorization {
			return ctx, nil
		}
		return a.user(ctx, method, c)
	case a.services.applies(method):
		return a.services.authenticate(ctx, method, c)
	case strings.HasPrefix(method, heraldPrefix):
		a.log.ErrorContext(ctx, "no credential rule for method; refused", "method", method)
		return nil, errNoPolicyRule
	default:
		return ctx, nil
	}
}

// user verifies the bearer token of c. Neither the error nor the log
// carries the token, only why it was refused.
func (a *Authenticator) user(ctx context.Context, method string, c Credentials) (context.Context, error) {
	if !c.HasAuthorization {
		return nil, errNoToken
	}
	tok, ok := bearer(c.Authorization)
	if !ok || a.users == nil {
		return nil, errBadToken
	}
	claims, err := a.users.Verify(ctx, tok)
	if err != nil {
		a.log.DebugContext(ctx, "user token refused", "method", method, "err", err)
		return nil, errBadToken
	}
	return WithClaims(ctx, claims), nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
