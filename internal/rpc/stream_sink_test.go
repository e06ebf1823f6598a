package rpc_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rpc"
)

// TestStreamSendDeadline: a client that stops reading, with its connection
// alive (its transport answers pings), blocks the server's Send on flow
// control; the stream's write timeout cuts the Send off, the stream ends as
// a write error and its slot is free again.
func TestStreamSendDeadline(t *testing.T) {
	t.Parallel()
	h := hub.New(hub.Options{})
	log := &streamLog{hub: h, entries: make(map[notify.UserID][]notify.Entry)}
	reg := prometheus.NewRegistry()
	slots := limit.NewStreams(1, nil, nil)
	ss := rpc.NewStreamServer(rpc.StreamConfig{
		Store: log, Hub: h, Streams: slots, Registerer: reg,
		WriteTimeout: 300 * time.Millisecond,
	})
	srv := grpc.NewServer(rpc.StreamDeadlines(), grpc.StreamInterceptor(func(srv any, s grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &ctxStream{ServerStream: s, ctx: auth.WithClaims(s.Context(), auth.Claims{User: "alice"})})
	}))
	heraldv1.RegisterInboxServiceServer(srv, streamOnly{ss: ss})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		ss.Shutdown()
		srv.Stop()
		h.Close()
	})
	// The smallest windows, so that little is in flight before Send waits.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), "x-test-user", "alice"), 20*time.Second)
	defer cancel()
	st, err := heraldv1.NewInboxServiceClient(conn).Stream(ctx, &heraldv1.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}

	// 640 KB the client never reads: far beyond its window and the
	// server's per-stream write quota (64 KB each).
	body := strings.Repeat("x", 16<<10)
	batch := make([]notify.Entry, 40)
	for i := range batch {
		batch[i] = notify.Entry{User: "alice", Cursor: notify.Cursor(i + 1), Notification: &notify.Notification{ID: "n", Title: "t", Body: body, CreateTime: time.Unix(1, 0)}}
	}
	h.Publish(batch)

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for writeErrors(t, reg) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream did not end within 10 s of its client no longer reading")
		}
		<-tick.C
	}
	release, ok := slots.Acquire(t.Context(), "alice")
	if !ok {
		t.Fatal("the slot is still held after the stream ended")
	}
	release()
}

// writeErrors reads herald_stream_disconnects_total{transport="grpc",
// reason="write_error"} from reg.
func writeErrors(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "herald_stream_disconnects_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["transport"] == "grpc" && labels["reason"] == "write_error" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
