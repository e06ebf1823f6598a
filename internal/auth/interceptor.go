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

// DevService is the service name given to unauthenticated requests in
// development mode.
const DevService = "dev"

// NotifyServicePrefix is the method prefix of herald.v1.NotifyService.
const NotifyServicePrefix = "/herald.v1.NotifyService/"

// contextStream replaces a stream's context with one carrying the identity.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// serviceAuth checks service API keys. The key is read from the metadata
// "authorization: Bearer <key>" or "x-api-key: <key>". A missing or unknown
// key is refused with codes.Unauthenticated, saying nothing about which keys
// exist; a method outside the key's scope with codes.PermissionDenied. In
// dev mode a request with no key at all passes as service
// DevService, but a wrong key is still refused, so that a misconfigured
// client notices.
type serviceAuth struct {
	keys     KeySet
	dev      bool
	log      *slog.Logger
	prefixes []string
}

func newServiceAuth(keys KeySet, dev bool, log *slog.Logger, prefixes []string) *serviceAuth {
	if len(prefixes) == 0 {
		prefixes = []string{NotifyServicePrefix}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if keys == nil {
		keys = (*APIKeys)(nil) // finds nothing
	}
	return &serviceAuth{keys: keys, dev: dev, log: log, prefixes: append([]string(nil), prefixes...)}
}

func (a *serviceAuth) applies(method string) bool {
	for _, p := range a.prefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

var (
	errNoKey  = status.Error(codes.Unauthenticated, "missing service credential")
	errBadKey = status.Error(codes.Unauthenticated, "invalid service credential")
)

func (a *serviceAuth) authenticate(ctx context.Context, method string) (context.Context, error) {
	key, present := keyFromMetadata(ctx)
	if !present {
		if a.dev {
			return WithService(ctx, DevService), nil
		}
		a.log.DebugContext(ctx, "service request without credential", "method", method)
		return nil, errNoKey
	}
	k, ok := a.keys.Find(key)
	if !ok {
		// Never log the key itself; its hash prefix is enough to match it
		// against a configuration.
		a.log.InfoContext(ctx, "service request with unknown credential", "method", method, "key_hash", HashAPIKey(key)[:len(hashPrefix)+8])
		return nil, errBadKey
	}
	if name := MethodName(method); !k.AllowsMethod(name) {
		a.log.InfoContext(ctx, "service request outside its key's methods", "service", k.Name, "method", method)
		return nil, status.Errorf(codes.PermissionDenied, "API key of service %q may not call %s; its methods: %s", k.Name, name, strings.Join(k.Methods, ","))
	}
	return WithKey(ctx, k), nil
}

// keyFromMetadata returns the credential the caller presented. present is
// true as soon as any credential header is there, even a malformed one, so
// that dev mode never lets a broken credential through as "no credential".
func keyFromMetadata(ctx context.Context) (key string, present bool) {
	// ValueFromIncomingContext copies one header's values, where
	// FromIncomingContext would copy all of them on every call.
	if vs := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vs) > 0 {
		k, _ := bearer(vs[0])
		return k, true
	}
	if vs := metadata.ValueFromIncomingContext(ctx, "x-api-key"); len(vs) > 0 {
		return strings.TrimSpace(vs[0]), true
	}
	return "", false
}
