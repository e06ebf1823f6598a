package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// fakeNotify records the request and the authorization metadata it got.
type fakeNotify struct {
	heraldv1.UnimplementedNotifyServiceServer
	reqs chan *heraldv1.NotifyRequest
	auth chan []string
	resp *heraldv1.NotifyResponse
	err  error
}

func (f *fakeNotify) Notify(ctx context.Context, req *heraldv1.NotifyRequest) (*heraldv1.NotifyResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.auth <- md.Get("authorization")
	f.reqs <- req
	return f.resp, f.err
}

func startNotifyServer(t *testing.T, f *fakeNotify) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	heraldv1.RegisterNotifyServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestNotify(t *testing.T) {
	t.Parallel()
	f := &fakeNotify{
		reqs: make(chan *heraldv1.NotifyRequest, 1),
		auth: make(chan []string, 1),
		resp: &heraldv1.NotifyResponse{Id: "n-1", Recipients: 2},
	}
	addr := startNotifyServer(t, f)

	var stdout, stderr bytes.Buffer
	args := []string{
		"notify", "--server", addr, "--user", "alice, bob", "--topic", "news", "--channel", "rooms/dev",
		"--title", "Hi", "--body", "there", "--type", "comment.created",
		"--data", `{"url":"/c/1","n":3}`, "--category", "social", "--priority", "high",
		"--idempotency-key", "k1",
	}
	if err := runEnv(context.Background(), args, mapEnv("HERALD_API_KEY", "hk_test"), &stdout, &stderr); err != nil {
		t.Fatalf("notify: %v (stderr %q)", err, stderr.String())
	}
	if got, want := stdout.String(), "id=n-1 recipients=2\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got := <-f.auth; len(got) != 1 || got[0] != "Bearer hk_test" {
		t.Errorf("authorization = %q, want [Bearer hk_test]", got)
	}
	want := &heraldv1.Notification{
		Audience:       &heraldv1.Audience{UserIds: []string{"alice", "bob"}, Topics: []string{"news"}, Channels: []string{"rooms/dev"}},
		Type:           "comment.created",
		Title:          "Hi",
		Body:           "there",
		Category:       "social",
		Priority:       heraldv1.Priority_PRIORITY_HIGH,
		IdempotencyKey: "k1",
	}
	want.Data = mustStruct(t, `{"url":"/c/1","n":3}`)
	if got := (<-f.reqs).GetNotification(); !proto.Equal(got, want) {
		t.Errorf("request = %v, want %v", got, want)
	}
}

// TestNotifyChannels checks that a notification may name only channels,
// which --channel takes repeated and comma-separated.
func TestNotifyChannels(t *testing.T) {
	t.Parallel()
	f := &fakeNotify{
		reqs: make(chan *heraldv1.NotifyRequest, 1),
		auth: make(chan []string, 1),
		resp: &heraldv1.NotifyResponse{Id: "n-1"},
	}
	addr := startNotifyServer(t, f)
	var stdout bytes.Buffer
	args := []string{"notify", "--server", addr, "--channel", "rooms/dev, scores/m-1", "--channel", "rooms/ops", "--title", "Ship it?"}
	if err := runEnv(context.Background(), args, noEnv, &stdout, &stdout); err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), "id=n-1 recipients=0\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	want := &heraldv1.Audience{Channels: []string{"rooms/dev", "scores/m-1", "rooms/ops"}}
	if got := (<-f.reqs).GetNotification().GetAudience(); !proto.Equal(got, want) {
		t.Errorf("audience = %v, want %v", got, want)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Parallel()
	f := &fakeNotify{
		reqs: make(chan *heraldv1.NotifyRequest, 1),
		auth: make(chan []string, 1),
		err:  status.Error(codes.Unauthenticated, "missing API key"),
	}
	addr := startNotifyServer(t, f)
	var stdout, stderr bytes.Buffer
	err := runEnv(context.Background(), []string{"notify", "--server", addr, "--user", "alice", "--title", "Hi"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") || !strings.Contains(err.Error(), "missing API key") {
		t.Fatalf("notify = %v, want the server's Unauthenticated error", err)
	}
	if got := exitCode(err, &stderr); got != exitError {
		t.Errorf("exit code = %d, want %d", got, exitError)
	}
	if got := <-f.auth; len(got) != 0 {
		t.Errorf("authorization sent without a key: %q", got)
	}
}

func TestNotifyDuplicate(t *testing.T) {
	t.Parallel()
	f := &fakeNotify{
		reqs: make(chan *heraldv1.NotifyRequest, 1),
		auth: make(chan []string, 1),
		resp: &heraldv1.NotifyResponse{Id: "n-1", Recipients: 1, Duplicate: true},
	}
	addr := startNotifyServer(t, f)
	var stdout bytes.Buffer
	if err := runEnv(context.Background(), []string{"notify", "--server", addr, "--user", "alice", "--title", "Hi"}, noEnv, &stdout, &stdout); err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), "id=n-1 recipients=1 duplicate=true\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func mustStruct(t *testing.T, js string) *structpb.Struct {
	t.Helper()
	s := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(js), s); err != nil {
		t.Fatal(err)
	}
	return s
}
