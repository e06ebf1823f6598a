package rest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/cors"
)

// allowedMethods is the Allow value of each path that proto/herald/v1/
// http.yaml maps; TestMethodNotAllowed keeps the two in step. The gateway's
// mux does not expose its routes, so they are listed here.
var allowedMethods = map[string]string{
	"/v1/notify":                       http.MethodPost,
	"/v1/notify:batch":                 http.MethodPost,
	"/v1/subscriptions:subscribe":      http.MethodPost,
	"/v1/subscriptions:unsubscribe":    http.MethodPost,
	"/v1/subscriptions/topics":         http.MethodGet,
	"/v1/subscriptions/subscribers":    http.MethodGet,
	"/v1/inbox":                        http.MethodGet,
	"/v1/inbox:mark":                   http.MethodPost,
	"/v1/inbox/counts":                 http.MethodGet,
	"/v1/me/subscriptions":             http.MethodGet,
	"/v1/me/subscriptions:subscribe":   http.MethodPost,
	"/v1/me/subscriptions:unsubscribe": http.MethodPost,
	"/v1/me/preferences":               http.MethodGet + ", " + http.MethodPatch,
	presencePath:                       http.MethodGet,
}

// browserPaths are the paths of allowedMethods that a user's own token
// opens, which pages of the origins of --cors-origins may call: the inbox
// and /v1/me. The paths of service credentials get no CORS: an API key does
// not belong in a browser. TestBrowserRoutes keeps this in step with the
// services of http.yaml.
var browserPaths = map[string]bool{
	"/v1/inbox":                        true,
	"/v1/inbox:mark":                   true,
	"/v1/inbox/counts":                 true,
	"/v1/me/subscriptions":             true,
	"/v1/me/subscriptions:subscribe":   true,
	"/v1/me/subscriptions:unsubscribe": true,
	"/v1/me/preferences":               true,
}

// withCORS answers cross-origin requests to the browser routes (browserPaths
// and channel history) from p, preflights included; other paths pass
// untouched. A nil p serves no CORS.
func withCORS(p *cors.Policy, next http.Handler) http.Handler {
	if p == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		methods, ok := browserMethods(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		allowed := p.Apply(w.Header(), r)
		if r.Method == http.MethodOptions {
			cors.Options(w, r, methods, allowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// browserMethods returns the methods of path if it is a browser route.
func browserMethods(path string) (string, bool) {
	if browserPaths[path] {
		return allowedMethods[path], true
	}
	if rest, ok := strings.CutPrefix(path, channelsPrefix); ok {
		if name, ok := strings.CutSuffix(rest, eventsSuffix); ok && name != "" {
			return http.MethodGet, true
		}
	}
	return "", false
}

// channelsPrefix and eventsSuffix frame the history route of a channel,
// GET /v1/channels/{channel}/events. A channel name holds slashes
// ("rooms/developers"), which a gateway path template can match only as
// its last part, so http.yaml maps /v1/channels/{channel=**} and this
// handler takes the suffix off first: the suffix form is the one route.
const (
	channelsPrefix = "/v1/channels/"
	eventsSuffix   = "/events"
)

// channelEvents serves the channel history route through next, which
// knows it without the suffix; a channel path without it is not found.
func channelEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, channelsPrefix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		name, ok := strings.CutSuffix(rest, eventsSuffix)
		if !ok || name == "" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = channelsPrefix + name
		r2.URL.RawPath = ""
		next.ServeHTTP(w, r2)
	})
}

// routingErrorHandler answers a known path asked with a method it does not
// serve with 405 and Allow (RFC 9110, section 15.5.6), where the gateway's
// default answers 501, which says the server cannot do the method at all.
// The body is the usual status JSON, with gRPC code UNIMPLEMENTED as the
// gateway has it. Other routing errors keep the gateway's default.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus != http.StatusMethodNotAllowed {
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
		return
	}
	msg := "method not allowed"
	if allow, ok := allowedMethods[r.URL.Path]; ok {
		w.Header().Set("Allow", allow)
		msg = fmt.Sprintf("method not allowed; use %s", allow)
	}
	errorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{
		HTTPStatus: http.StatusMethodNotAllowed,
		Err:        status.Error(codes.Unimplemented, msg),
	})
}

// outgoingHeaderMatcher passes the gRPC response metadata on as
// Grpc-Metadata-* headers, as the gateway does by default, except the
// transport's own content-type (application/grpc), which says nothing about
// the REST answer.
func outgoingHeaderMatcher(key string) (string, bool) {
	if key == "content-type" {
		return "", false
	}
	return runtime.MetadataHeaderPrefix + key, true
}
