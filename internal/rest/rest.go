// Package rest serves Herald's gRPC services as REST/JSON through
// grpc-gateway. The gateway calls the service implementations in process,
// through the same unary interceptor chain the gRPC server runs (metrics,
// client certificates, credentials), so a REST call is authenticated,
// limited and counted exactly once, like a gRPC call, without crossing a
// socket to reach its own process.
//
// JSON conventions: requests may use proto field names (user_ids) or
// lowerCamelCase (userIds), as protojson accepts both; responses always use
// the proto names (snake_case), like the SSE payload, and include fields with
// zero values ("recipients": 0, "duplicate": false). Unknown request fields
// are refused with 400 rather than dropped, so that a misspelt field such as
// "expire_tme" never goes unnoticed. Errors are the gateway's status JSON,
// {"code": <gRPC code>, "message": "...", "details": [...]}, with the HTTP
// status mapped from the gRPC code (400 invalid, 401 unauthenticated, 503
// unavailable, ...); a request body over the limit gets 413, and a method a
// path does not serve gets 405 with Allow.
//
// The routes a user's token opens answer CORS from Options.CORS, preflights
// (OPTIONS) with 204; the routes of service credentials answer none.
package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	// Registers errdetails.BadRequest so that validation details, which
	// arrive as google.protobuf.Any, can be rendered as JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/cors"
)

// DefaultMaxBodyBytes bounds request bodies: a full batch of maximal
// notifications fits comfortably.
const DefaultMaxBodyBytes = 1 << 20

// Services are the implementations the gateway calls; a nil one gets no
// routes.
type Services struct {
	Notify       heraldv1.NotifyServiceServer
	Subscription heraldv1.SubscriptionServiceServer
	Inbox        heraldv1.InboxServiceServer
	Channel      heraldv1.ChannelServiceServer
	Presence     heraldv1.PresenceServiceServer
}

// Options configure the REST handler. Zero values mean defaults.
type Options struct {
	// Interceptor runs around every call, as the gRPC server's unary chain
	// does for gRPC calls (rpc.ChainUnary builds one from several). Nil
	// runs the implementations directly.
	Interceptor grpc.UnaryServerInterceptor
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// CORS answers cross-origin requests to the routes a user's token
	// opens (the inbox, /v1/me, channel history); nil answers none.
	CORS *cors.Policy
}

// New returns the REST handler for svcs.
func New(svcs Services, opts Options) (http.Handler, error) {
	ic := opts.Interceptor
	if ic == nil {
		ic = func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(ctx, req)
		}
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
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithOutgoingHeaderMatcher(outgoingHeaderMatcher),
	)
	// The context of the Register functions is unused by in-process
	// registration; each call gets its request's context.
	ctx := context.Background()
	var errs []error
	if svcs.Notify != nil {
		errs = append(errs, heraldv1.RegisterNotifyServiceHandlerServer(ctx, mux, notifyService{srv: svcs.Notify, ic: ic}))
	}
	if svcs.Subscription != nil {
		errs = append(errs, heraldv1.RegisterSubscriptionServiceHandlerServer(ctx, mux, subscriptionService{srv: svcs.Subscription, ic: ic}))
	}
	if svcs.Inbox != nil {
		errs = append(errs, heraldv1.RegisterInboxServiceHandlerServer(ctx, mux, inboxService{srv: svcs.Inbox, ic: ic}))
	}
	if svcs.Channel != nil {
		errs = append(errs, heraldv1.RegisterChannelServiceHandlerServer(ctx, mux, channelService{srv: svcs.Channel, ic: ic}))
	}
	if svcs.Presence != nil {
		errs = append(errs, heraldv1.RegisterPresenceServiceHandlerServer(ctx, mux, presenceService{srv: svcs.Presence, ic: ic}))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rest: register services: %w", err)
	}
	return withCORS(opts.CORS, limitBody(limit, presenceQuery(channelEvents(mux)))), nil
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
