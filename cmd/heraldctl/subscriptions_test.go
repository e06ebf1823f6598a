package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// fakeSubs keeps subscriptions in memory and pages listings two at a time.
type fakeSubs struct {
	heraldv1.UnimplementedSubscriptionServiceServer
	mu    sync.Mutex
	pairs map[[2]string]bool // topic, user
	auth  []string
}

func (f *fakeSubs) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.auth = append(f.auth, strings.Join(md.Get("authorization"), ","))
}

func (f *fakeSubs) Subscribe(ctx context.Context, r *heraldv1.SubscribeRequest) (*heraldv1.SubscribeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(ctx)
	var added int32
	for _, t := range r.GetTopics() {
		for _, u := range r.GetUserIds() {
			if !f.pairs[[2]string{t, u}] {
				f.pairs[[2]string{t, u}] = true
				added++
			}
		}
	}
	return &heraldv1.SubscribeResponse{Added: added}, nil
}

func (f *fakeSubs) Unsubscribe(ctx context.Context, r *heraldv1.UnsubscribeRequest) (*heraldv1.UnsubscribeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(ctx)
	var removed int32
	for _, t := range r.GetTopics() {
		for _, u := range r.GetUserIds() {
			if f.pairs[[2]string{t, u}] {
				delete(f.pairs, [2]string{t, u})
				removed++
			}
		}
	}
	return &heraldv1.UnsubscribeResponse{Removed: removed}, nil
}

// page returns two items after token (the last item of the previous page).
func page(all []string, token string) ([]string, string) {
	var out []string
	for _, it := range all {
		if it > token && len(out) < 2 {
			out = append(out, it)
		}
	}
	if len(out) == 2 && out[1] != all[len(all)-1] {
		return out, out[1]
	}
	return out, ""
}

func (f *fakeSubs) ListUserTopics(_ context.Context, r *heraldv1.ListUserTopicsRequest) (*heraldv1.ListUserTopicsResponse, error) {
	if r.GetUserId() == "nobody" {
		return nil, status.Error(codes.InvalidArgument, "user_id: bad")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []string
	for p := range f.pairs {
		if p[1] == r.GetUserId() {
			all = append(all, p[0])
		}
	}
	slices.Sort(all)
	items, next := page(all, r.GetPageToken())
	return &heraldv1.ListUserTopicsResponse{Topics: items, NextPageToken: next}, nil
}

func (f *fakeSubs) ListTopicSubscribers(_ context.Context, r *heraldv1.ListTopicSubscribersRequest) (*heraldv1.ListTopicSubscribersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []string
	for p := range f.pairs {
		if p[0] == r.GetTopic() {
			all = append(all, p[1])
		}
	}
	slices.Sort(all)
	items, next := page(all, r.GetPageToken())
	return &heraldv1.ListTopicSubscribersResponse{UserIds: items, NextPageToken: next}, nil
}

func TestSubscriptionCommands(t *testing.T) {
	t.Parallel()
	f := &fakeSubs{pairs: make(map[[2]string]bool)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	heraldv1.RegisterSubscriptionServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()
	getenv := func(k string) string { return map[string]string{"HERALD_API_KEY": "hk_env"}[k] }

	steps := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{[]string{"subscribe", "--server", addr, "--user", "ann,ben,cat,dan,eve", "--topic", "order:1"}, "added=5\n", ""},
		{[]string{"subscribe", "--server", addr, "--user", "ann", "--topic", "order:1,team/ops"}, "added=1\n", ""},
		{[]string{"subscribers", "--server", addr, "--topic", "order:1"}, "ann\nben\ncat\ndan\neve\n", ""},
		{[]string{"topics", "--server", addr, "--user", "ann"}, "order:1\nteam/ops\n", ""},
		{[]string{"unsubscribe", "--server", addr, "--user", "ann,zed", "--topic", "order:1"}, "removed=1\n", ""},
		{[]string{"subscribers", "--server", addr, "--topic", "order:1"}, "ben\ncat\ndan\neve\n", ""},
		{[]string{"topics", "--server", addr, "--user", "nobody"}, "", "InvalidArgument: user_id: bad"},
		{[]string{"subscribe", "--server", addr, "--user", "ann"}, "", "--user and --topic are required"},
		{[]string{"topics", "--server", addr}, "", "--user is required"},
		{[]string{"subscribers", "--server", addr, "--timeout", "0s", "--topic", "x"}, "", "--timeout must be positive"},
	}
	for _, st := range steps {
		var stdout, stderr bytes.Buffer
		err := runEnv(t.Context(), st.args, getenv, &stdout, &stderr)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("%v: error %v, want %q", st.args, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v (stderr %s)", st.args, err, stderr.String())
		}
		if stdout.String() != st.want {
			t.Errorf("%v: printed %q, want %q", st.args, stdout.String(), st.want)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.auth {
		if a != "Bearer hk_env" {
			t.Errorf("authorization %q, want the key from $HERALD_API_KEY", a)
		}
	}
	var ue *usageError
	if err := runEnv(t.Context(), []string{"subscribe", "--bogus"}, getenv, &bytes.Buffer{}, &bytes.Buffer{}); !errors.As(err, &ue) {
		t.Errorf("unknown flag: %v, want a usage error", err)
	}
}
