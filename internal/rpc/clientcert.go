package rpc

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/auth"
)

var errNoClientCert = status.Error(codes.Unauthenticated, "a client certificate is required for this service (mutual TLS)")

// ClientCertUnary returns an interceptor refusing calls to the methods under
// prefixes (default NotifyService, SubscriptionService and PresenceService) with
// UNAUTHENTICATED unless the connection presented a client certificate that
// the TLS handshake verified. It goes before the API key check, which still
// applies: the certificate proves the machine, the key the service.
//
// The listener must verify certificates when they are given
// (tls.VerifyClientCertIfGiven), so that user methods work without one. The
// REST gateway's own connection carries no client certificate, so with this
// interceptor the service API is gRPC only.
func ClientCertUnary(prefixes ...string) grpc.UnaryServerInterceptor {
	prefixes = certPrefixes(prefixes)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if hasAnyPrefix(info.FullMethod, prefixes) && !verifiedClientCert(ctx) {
			return nil, errNoClientCert
		}
		return handler(ctx, req)
	}
}

// ClientCertStream is the streaming counterpart of ClientCertUnary.
func ClientCertStream(prefixes ...string) grpc.StreamServerInterceptor {
	prefixes = certPrefixes(prefixes)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if hasAnyPrefix(info.FullMethod, prefixes) && !verifiedClientCert(ss.Context()) {
			return errNoClientCert
		}
		return handler(srv, ss)
	}
}

func certPrefixes(p []string) []string {
	if len(p) == 0 {
		return []string{auth.NotifyServicePrefix, auth.SubscriptionServicePrefix, auth.PresenceServicePrefix}
	}
	return append([]string(nil), p...)
}

// verifiedClientCert reports whether the call came over TLS with a client
// certificate chained to a configured CA. A certificate that was sent but
// not verified never counts.
func verifiedClientCert(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && len(info.State.VerifiedChains) > 0 && len(info.State.PeerCertificates) > 0
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
