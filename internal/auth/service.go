package auth

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
)

// DevService is the service name given to unauthenticated requests in
// development mode.
const DevService = "dev"

// NotifyServicePrefix is the method prefix of herald.v1.NotifyService.
const NotifyServicePrefix = "/herald.v1.NotifyService/"

// serviceAuth checks service API keys. The key is read from the header
// "authorization: Bearer <key>" or "x-api-key: <key>". A missing or unknown
// key is refused with ErrUnauthenticated, saying how to send one and
// nothing about which keys exist; a method outside the key's scope with
// ErrPermissionDenied.
//
// In dev mode a key is not needed: a request without one passes as service
// DevService. What happens to a request with one depends on whether the
// server has keys to check it against. With none (make run), any key passes
// as DevService too, so that a client configured for production (say with
// HERALD_API_KEY set) works against a development server unchanged. With
// keys, a key is checked as in production and a wrong one refused, so that
// a misconfigured client notices before it meets a production server.
type serviceAuth struct {
	keys     KeySet
	dev      bool
	log      *slog.Logger
	prefixes []string
	// devKeyLogged makes the first key dev mode lets through unchecked
	// logged once, not on every call.
	devKeyLogged atomic.Bool
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

// errNoKey says how to send a key; it is the same over REST, where the
// gateway forwards the HTTP headers of these names as the metadata.
var errNoKey = unauthenticated(`missing API key: send "authorization: Bearer <key>" or "x-api-key: <key>" (gRPC metadata or HTTP header); ` +
	`heraldctl takes --api-key or HERALD_API_KEY; heraldctl apikey creates a key and the --api-keys hash the server needs`)

// badKey refuses a key the server does not know. It shows the start of the
// key's hash, which the caller can compute anyway and an operator can look
// for in the server's configuration; never the key, nor the server's keys.
func badKey(hash string) error {
	return unauthenticatedf(
		"unknown API key (%s…): its hash is in neither --api-keys nor --api-keys-file of this server; "+
			"check the key the client sends, or add the hash that heraldctl apikey printed with it to the server", hash)
}

// errMalformedKey refuses an authorization header that carries no bearer
// credential, such as "Basic …" or an empty "Bearer ".
var errMalformedKey = unauthenticated(
	`malformed API key header: want "authorization: Bearer <key>" or "x-api-key: <key>"`)

func (a *serviceAuth) authenticate(ctx context.Context, method string, c Credentials) (context.Context, error) {
	key, present := c.serviceKey()
	if !present {
		if a.dev {
			return WithService(ctx, DevService), nil
		}
		a.log.DebugContext(ctx, "service request without credential", "method", method)
		return nil, errNoKey
	}
	if a.dev && keyCount(a.keys) == 0 {
		if !a.devKeyLogged.Swap(true) {
			a.log.InfoContext(ctx, "development mode without API keys: a key a request carries is not checked; such requests run as service "+DevService, "method", method)
		}
		return WithService(ctx, DevService), nil
	}
	if key == "" {
		return nil, errMalformedKey
	}
	k, ok := a.keys.Find(key)
	if !ok {
		// Never log the key itself; its hash prefix is enough to match it
		// against a configuration.
		hash := HashAPIKey(key)[:len(hashPrefix)+8]
		a.log.InfoContext(ctx, "service request with unknown credential", "method", method, "key_hash", hash)
		return nil, badKey(hash)
	}
	if name := MethodName(method); !k.AllowsMethod(name) {
		a.log.InfoContext(ctx, "service request outside its key's methods", "service", k.Name, "method", method)
		return nil, permissionDeniedf("API key of service %q may not call %s; its methods: %s", k.Name, name, strings.Join(k.Methods, ","))
	}
	return WithKey(ctx, k), nil
}

// keyCount is how many keys ks holds, or -1 if it cannot tell, which
// counts as having keys: dev mode then checks every key it is shown.
func keyCount(ks KeySet) int {
	if c, ok := ks.(interface{ Len() int }); ok {
		return c.Len()
	}
	return -1
}

// serviceKey returns the key c presents. present is true as soon as any
// credential header is there, even a malformed one, so that dev mode never
// lets a broken credential through as "no credential".
func (c Credentials) serviceKey() (key string, present bool) {
	if c.HasAuthorization {
		k, _ := bearer(c.Authorization)
		return k, true
	}
	if c.HasAPIKey {
		return strings.TrimSpace(c.APIKey), true
	}
	return "", false
}
