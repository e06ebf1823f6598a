// Package rest serves Herald's gRPC services as REST/JSON through
// grpc-gateway. The gateway dials the server's own gRPC port, so every REST
// call passes the same interceptor (authentication and scopes) and the same
// service code, with its per-key rate limits, as a gRPC call.
//
// JSON conventions: requests may use proto field names (user_ids) or
// lowerCamelCase (userIds), as protojson accepts both; responses always use
// the proto names (snake_case), like the SSE payload, and include fields with
// zero values ("recipients": 0, "duplicate": false). Unknown request fields
// are refused with 400 rather than dropped, so that a misspelt field such as
// "expire_tme" never goes unnoticed. Errors are the gateway's status JSON,
// {"code": <gRPC code>, "message": "...", "details": [...]}, with the HTTP
// status mapped from the gRPC code (400 invalid, 401 unauthenticated, 503
// unavailable, ...); a request body over the limit gets 413.
package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	// Registers errdetails.BadRequest so that validation details, which
	// arrive as google.protobuf.Any, can be rendered as JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// DefaultMaxBodyBytes bounds request bodies: a full batch of maximal
// notifications fits comfortably.
const DefaultMaxBodyBytes = 1 << 20

// Options configure the REST handler. Zero values mean defaults.
type Options struct {
	// DialOptions are used to reach the gRPC server; by default a plaintext
	// connection, right for the server's own loopback port.
	DialOptions []grpc.DialOption
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// New returns the REST handler for the gRPC server at grpcAddr, dialled with
// dialOpts, and the default body limit. The connection it opens lives until
// ctx is done, so ctx must span the handler's whole life.
func New(ctx context.Context, grpcAddr string, dialOpts ...grpc.DialOption) (http.Handler, error) {
	return NewWithOptions(ctx, grpcAddr, Options{DialOptions: dialOpts})
}

// NewWithOptions is New with every option.
func NewWithOptions(ctx context.Context, grpcAddr string, opts Options) (http.Handler, error) {
	dial := opts.DialOptions
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithErrorHandler(errorHandler),
	)
	services := []struct {
		name     string
		register func(context.Context, *runtime.ServeMux, string, []grpc.DialOption) error
	}{
		{"NotifyService", heraldv1.RegisterNotifyServiceHandlerFromEndpoint},
		{"SubscriptionService", heraldv1.RegisterSubscriptionServiceHandlerFromEndpoint},
		{"InboxService", heraldv1.RegisterInboxServiceHandlerFromEndpoint},
	}
	for _, svc := range services {
		if err := svc.register(ctx, mux, grpcAddr, dial); err != nil {
			return nil, fmt.Errorf("rest: register %s for %s: %w", svc.name, grpcAddr, err)
		}
	}
	return limitBody(limit, mux), nil
}

// headerMatcher forwards the service credential header as gRPC metadata.
// Authorization needs no rule: the gateway always forwards it as
// "authorization", ahead of any client-sent Grpc-Metadata-Authorization, so
// the service key or user token of the HTTP request is what the
// interceptors check.
func headerMatcher(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "X-Api-Key" {
		return "x-api-key", true
	}
	return runtime.DefaultHeaderMatcher(key)
}
