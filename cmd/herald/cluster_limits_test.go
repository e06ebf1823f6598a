package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// TestClusterLimits: with --store=redis the limits hold across the nodes:
// a service's --notify-rate is one budget on both nodes, not one each, and
// a user's 17th stream is refused on whichever node it opens; a stream
// that ends frees its slot for the other node at once.
func TestClusterLimits(t *testing.T) {
	t.Parallel()
	onTopologies(t, testClusterLimits)
}

func testClusterLimits(t *testing.T, rt *redisTopology) {
	prefix := clusterPrefix(t, rt.client)
	// One notification every 10 s after a burst of 10: none comes back
	// while the test sends.
	nodes := startCluster(t, rt, 2, prefix, "--notify-rate=0.1", "--notify-burst=10")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	clients := []heraldv1.NotifyServiceClient{nodes[0].notifyClient(t), nodes[1].notifyClient(t)}
	start := time.Now()
	accepted, refused := 0, 0
	var lastErr error
	for i := range 20 {
		_, err := notifyUser(ctx, clients[i%2], "rate-user", fmt.Sprintf("n%d", i))
		switch status.Code(err) {
		case codes.OK:
			accepted++
		case codes.ResourceExhausted:
			refused++
			lastErr = err
		default:
			t.Fatalf("Notify %d: %v", i, err)
		}
	}
	if most := 10 + int(time.Since(start)/(10*time.Second)); accepted < 10 || accepted > most {
		t.Fatalf("accepted %d of 20 sent alternately to two nodes, want 10 (the burst, once for both; at most %d with refills): the rate is not shared", accepted, most)
	}
	var retry time.Duration
	for _, d := range status.Convert(lastErr).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri.GetRetryDelay().AsDuration()
		}
	}
	if retry <= 0 || retry > 10*time.Second {
		t.Errorf("RetryInfo delay %v, want (0, 10s]", retry)
	}
	series := `herald_notify_rate_limited_total{service="e2e"}`
	if got := metricValue(t, nodes[0], series) + metricValue(t, nodes[1], series); got != float64(refused) {
		t.Errorf("%s summed over the nodes = %v, want %d", series, got, refused)
	}

	// 16 streams of one user (the default limit): SSE on node 1, SSE and
	// gRPC on node 2.
	const user = "many-tabs"
	var onFirst []*rawStream
	for range 8 {
		onFirst = append(onFirst, nodes[0].streamFor(t, user, ""))
	}
	for range 4 {
		nodes[1].streamFor(t, user, "")
	}
	inbox := nodes[1].inboxClient(t)
	for range 4 {
		grpcStream(t, inbox, user, "")
	}
	hdr := map[string]string{"Authorization": "Bearer " + token(t, user)}
	over := openStream(t, nodes[1].HTTPAddr, "/v1/stream", hdr)
	b, _ := io.ReadAll(io.LimitReader(over.resp.Body, 4096))
	over.Close()
	if over.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("17th stream on node 2: %d %s, want 429", over.resp.StatusCode, b)
	}
	gs, err := nodes[0].inboxClient(t).Stream(asUser(t, ctx, user), &heraldv1.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gs.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("17th stream over gRPC on node 1: %v, want ResourceExhausted", err)
	}

	// Closing a stream on node 1 frees a slot for node 2.
	onFirst[0].Close()
	waitFor(t, 10*time.Second, func() bool {
		st := openStream(t, nodes[1].HTTPAddr, "/v1/stream", hdr)
		if st.resp.StatusCode == http.StatusOK {
			return true // kept open: the 16th again
		}
		st.Close()
		return false
	}, func() string { return "node 2 still refuses the stream node 1 closed" })
	if st := openStream(t, nodes[0].HTTPAddr, "/v1/stream", hdr); st.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("with 16 open again, node 1 answered %d, want 429", st.resp.StatusCode)
	}
}
