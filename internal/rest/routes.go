package rest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
