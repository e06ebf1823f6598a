package rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/auth"
)

// Auth is the interceptor pair that authenticates every call against an
// auth.Policy, puts who called in the call's context and refuses a call
// without the credential its method needs.
type Auth struct {
	a *auth.Authenticator
}

// NewAuth returns the interceptors enforcing p. A user is put in the
// context with auth.WithClaims, a service with auth.WithKey or
// auth.WithService.
func NewAuth(p auth.Policy) *Auth { return &Auth{a: auth.NewAuthenticator(p)} }

// Unary returns the interceptor for unary calls.
func (x *Auth) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := x.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the streaming counterpart of Unary.
func (x *Auth) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := x.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if ctx == ss.Context() {
			return handler(srv, ss)
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

func (x *Auth) authenticate(ctx context.Context, method string) (context.Context, error) {
	ctx, err := x.a.Authenticate(ctx, method, presented(ctx))
	if err != nil {
		return nil, refused(err)
	}
	return ctx, nil
}

// presented reads the credential headers from the call's metadata, which
// over REST holds the HTTP headers of these names.
func presented(ctx context.Context) auth.Credentials {
	var c auth.Credentials
	// ValueFromIncomingContext copies one header's values, where
	// FromIncomingContext would copy all of them on every call.
	if vs := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vs) > 0 {
		c.Authorization, c.HasAuthorization = vs[0], true
	}
	if vs := metadata.ValueFromIncomingContext(ctx, "x-api-key"); len(vs) > 0 {
		c.APIKey, c.HasAPIKey = vs[0], true
	}
	return c
}

// refused is the status of a refusal by auth, with auth's message, which
// is written for the caller.
func refused(err error) error {
	switch {
	case errors.Is(err, auth.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, auth.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	default:
		// auth refuses with nothing else; an error it might add one day
		// stays a refusal, and says nothing more.
		return status.Error(codes.Unauthenticated, "unauthenticated")
	}
}

// contextStream replaces a stream's context with one carrying the identity.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
