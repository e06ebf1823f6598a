package rpc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/rpc"
)

func TestMetricsCountsByMethodAndCode(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := rpc.NewMetrics(reg, nil)
	refuse := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if req == "bad" {
			return nil, status.Error(codes.Unauthenticated, "no key")
		}
		return h(ctx, req)
	}
	ic := rpc.ChainUnary(m.Unary(), refuse)
	info := &grpc.UnaryServerInfo{FullMethod: "/herald.v1.NotifyService/Notify"}
	ok := func(context.Context, any) (any, error) { return "done", nil }
	for _, req := range []string{"good", "good", "bad"} {
		_, _ = ic(t.Context(), req, info, ok)
	}
	_, _ = ic(t.Context(), "good", &grpc.UnaryServerInfo{FullMethod: "/herald.v1.InboxService/ListInbox"},
		func(context.Context, any) (any, error) { return nil, status.Error(codes.Unavailable, "store down") })

	want := `
# HELP herald_rpc_requests_total Unary gRPC and REST calls by method (service/Method) and gRPC status code.
# TYPE herald_rpc_requests_total counter
herald_rpc_requests_total{code="OK",method="herald.v1.NotifyService/Notify"} 2
herald_rpc_requests_total{code="Unauthenticated",method="herald.v1.NotifyService/Notify"} 1
herald_rpc_requests_total{code="Unavailable",method="herald.v1.InboxService/ListInbox"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "herald_rpc_requests_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(reg, "herald_rpc_request_duration_seconds"); got != 2 {
		t.Errorf("latency histograms: got %d, want one per method (2)", got)
	}
}

// TestChainUnaryOrder checks that the first interceptor runs outermost, as
// grpc.ChainUnaryInterceptor orders a server's chain.
func TestChainUnaryOrder(t *testing.T) {
	t.Parallel()
	var trace []string
	mk := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			trace = append(trace, name+" in")
			resp, err := h(ctx, req)
			trace = append(trace, name+" out")
			return resp, err
		}
	}
	ic := rpc.ChainUnary(mk("a"), mk("b"), mk("c"))
	resp, err := ic(t.Context(), 1, &grpc.UnaryServerInfo{}, func(_ context.Context, req any) (any, error) {
		trace = append(trace, "handler")
		return req.(int) + 1, nil
	})
	if err != nil || resp != 2 {
		t.Fatalf("got %v, %v; want 2, nil", resp, err)
	}
	want := "a in,b in,c in,handler,c out,b out,a out"
	if got := strings.Join(trace, ","); got != want {
		t.Errorf("order: got %s, want %s", got, want)
	}
	if _, err := rpc.ChainUnary()(t.Context(), nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		t.Errorf("empty chain: %v", err)
	}
}
