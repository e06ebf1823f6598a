package rpc_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/rpc"
)

// echoServer answers with the authenticated service's name as the ID.
type echoServer struct {
	heraldv1.UnimplementedNotifyServiceServer
}

func (echoServer) Notify(ctx context.Context, _ *heraldv1.NotifyRequest) (*heraldv1.NotifyResponse, error) {
	name, ok := auth.ServiceFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no service in context")
	}
	return &heraldv1.NotifyResponse{Id: name}, nil
}

func startServer(t *testing.T, keys *auth.APIKeys, dev bool) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a := rpc.NewAuth(auth.Policy{Keys: keys, Dev: dev, Log: log})
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Unary()), grpc.ChainStreamInterceptor(a.Stream()))
	heraldv1.RegisterNotifyServiceServer(srv, echoServer{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		<-done
	})
	return cc
}

func TestServiceUnary(t *testing.T) {
	t.Parallel()
	const key = "hk_test-key"
	keys, err := auth.ParseAPIKeys([]string{"billing=" + auth.HashAPIKey(key)})
	if err != nil {
		t.Fatal(err)
	}
	prod := heraldv1.NewNotifyServiceClient(startServer(t, keys, false))
	devConn := startServer(t, keys, true)
	dev := heraldv1.NewNotifyServiceClient(devConn)

	tests := []struct {
		name   string
		client heraldv1.NotifyServiceClient
		md     []string
		want   string // service name; empty means Unauthenticated
	}{
		{"bearer", prod, []string{"authorization", "Bearer " + key}, "billing"},
		{"bearer lower-case scheme", prod, []string{"authorization", "bearer " + key}, "billing"},
		{"x-api-key", prod, []string{"x-api-key", key}, "billing"},
		{"no key", prod, nil, ""},
		{"wrong key", prod, []string{"x-api-key", "hk_wrong"}, ""},
		{"wrong bearer", prod, []string{"authorization", "Bearer hk_wrong"}, ""},
		{"basic scheme", prod, []string{"authorization", "Basic " + key}, ""},
		{"authorization wins over x-api-key", prod, []string{"authorization", "Bearer hk_wrong", "x-api-key", key}, ""},
		{"dev no key", dev, nil, auth.DevService},
		{"dev good key", dev, []string{"x-api-key", key}, "billing"},
		{"dev wrong key", dev, []string{"x-api-key", "hk_wrong"}, ""},
		{"dev empty bearer", dev, []string{"authorization", "Bearer "}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.AppendToOutgoingContext(context.Background(), tt.md...)
			resp, err := tt.client.Notify(ctx, &heraldv1.NotifyRequest{})
			if tt.want == "" {
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("Notify err = %v, want Unauthenticated", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if resp.GetId() != tt.want {
				t.Errorf("service = %q, want %q", resp.GetId(), tt.want)
			}
		})
	}

	// Health is outside the prefix and stays open.
	hc := healthpb.NewHealthClient(devConn)
	if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check: %v", err)
	}
}

func TestServiceUnaryHealthOpenWithoutKey(t *testing.T) {
	t.Parallel()
	cc := startServer(t, nil, false)
	if _, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check without key: %v", err)
	}
}

// TestServiceMethodScope checks that the interceptor refuses a method
// outside the key's list with PermissionDenied naming it, and passes the key
// on to the handler.
func TestServiceMethodScope(t *testing.T) {
	t.Parallel()
	keys, err := auth.ParseKeyFile([]byte(
		"name=subs hash=" + auth.HashAPIKey("hk_subs") + " methods=Subscribe\n" +
			"name=sender hash=" + auth.HashAPIKey("hk_send") + " methods=Notify topics=a/*\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := auth.NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	c := heraldv1.NewNotifyServiceClient(startServer(t, set, false))

	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", "hk_subs")
	_, err = c.Notify(ctx, &heraldv1.NotifyRequest{})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `"subs" may not call Notify`) {
		t.Errorf("Notify with a Subscribe-only key: %v, want PermissionDenied naming the method", err)
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "x-api-key", "hk_send")
	resp, err := c.Notify(ctx, &heraldv1.NotifyRequest{})
	if err != nil || resp.GetId() != "sender" {
		t.Errorf("Notify with a Notify key: %v, %v", resp, err)
	}
}

// fakeStream is the least of a grpc.ServerStream the interceptor needs.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }
