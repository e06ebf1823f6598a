package rpc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/rpc"
)

func TestClientCertUnary(t *testing.T) {
	t.Parallel()
	cert := &x509.Certificate{}
	verified := credentials.TLSInfo{State: tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{cert},
		VerifiedChains:   [][]*x509.Certificate{{cert}},
	}}
	unverified := credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}}
	withPeer := func(ai credentials.AuthInfo) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: ai})
	}
	tests := []struct {
		name   string
		ctx    context.Context
		method string
		want   codes.Code
	}{
		{"notify with verified cert", withPeer(verified), "/herald.v1.NotifyService/Notify", codes.OK},
		{"notify without cert", withPeer(credentials.TLSInfo{}), "/herald.v1.NotifyService/Notify", codes.Unauthenticated},
		{"notify with unverified cert", withPeer(unverified), "/herald.v1.NotifyService/Notify", codes.Unauthenticated},
		{"notify without peer", context.Background(), "/herald.v1.NotifyService/Notify", codes.Unauthenticated},
		{"subscription without cert", withPeer(credentials.TLSInfo{}), "/herald.v1.SubscriptionService/Subscribe", codes.Unauthenticated},
		{"inbox without cert", withPeer(credentials.TLSInfo{}), "/herald.v1.InboxService/List", codes.OK},
		{"health without cert", context.Background(), "/grpc.health.v1.Health/Check", codes.OK},
	}
	icpt := rpc.ClientCertUnary()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := icpt(tt.ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(context.Context, any) (any, error) { return nil, nil })
			if got := status.Code(err); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

type certStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s certStream) Context() context.Context { return s.ctx }

func TestClientCertStream(t *testing.T) {
	t.Parallel()
	icpt := rpc.ClientCertStream()
	ok := func(any, grpc.ServerStream) error { return nil }
	err := icpt(nil, certStream{ctx: context.Background()}, &grpc.StreamServerInfo{FullMethod: "/herald.v1.NotifyService/Notify"}, ok)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("notify stream without cert: got %v, want Unauthenticated", err)
	}
	err = icpt(nil, certStream{ctx: context.Background()}, &grpc.StreamServerInfo{FullMethod: "/herald.v1.InboxService/Stream"}, ok)
	if err != nil {
		t.Fatalf("inbox stream without cert: got %v, want nil", err)
	}
}
