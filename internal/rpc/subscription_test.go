package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rpc"
)

func asService() context.Context { return auth.WithService(context.Background(), "billing") }

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return out
}

func TestSubscriptionValidation(t *testing.T) {
	t.Parallel()
	s := rpc.NewSubscriptionServer(newFakeStore(), nil)
	sub := func(topics, users []string) func() error {
		return func() error {
			_, err := s.Subscribe(asService(), &heraldv1.SubscribeRequest{Topics: topics, UserIds: users})
			return err
		}
	}
	unsub := func(topics, users []string) func() error {
		return func() error {
			_, err := s.Unsubscribe(asService(), &heraldv1.UnsubscribeRequest{Topics: topics, UserIds: users})
			return err
		}
	}
	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		fields []string
	}{
		{"ok", sub([]string{"order:1", "team/payments", "a.b_c-d"}, []string{"alice", "bob"}), codes.OK, nil},
		{"max topics × max pairs", sub(seq("t", 100), seq("u", 100)), codes.OK, nil},
		{"one topic, max users", sub([]string{"t"}, seq("u", 10_000)), codes.OK, nil},
		{"nothing", sub(nil, nil), codes.InvalidArgument, []string{"topics", "user_ids"}},
		{"too many topics", sub(seq("t", 101), []string{"alice"}), codes.InvalidArgument, []string{"topics"}},
		{"too many users", sub([]string{"t"}, seq("u", 10_001)), codes.InvalidArgument, []string{"user_ids"}},
		{"too many pairs", sub(seq("t", 2), seq("u", 5001)), codes.InvalidArgument, []string{"user_ids"}},
		{"repeats do not count as pairs", sub([]string{"t", "t"}, append(seq("u", 5001), "u00000")), codes.OK, nil},
		{"bad names", sub([]string{"ok", "not ok", strings.Repeat("x", 201), "ü"}, []string{"alice", "", "a\nb"}), codes.InvalidArgument,
			[]string{"topics[1]", "topics[2]", "topics[3]", "user_ids[1]", "user_ids[2]"}},
		{"unsubscribe bad names", unsub([]string{"a b"}, []string{"alice"}), codes.InvalidArgument, []string{"topics[0]"}},
		{"unsubscribe ok", unsub([]string{"t"}, []string{"alice"}), codes.OK, nil},
		{"list topics, no user", func() error {
			_, err := s.ListUserTopics(asService(), &heraldv1.ListUserTopicsRequest{PageSize: -1, PageToken: "%%"})
			return err
		}, codes.InvalidArgument, []string{"user_id", "page_size", "page_token"}},
		{"list subscribers, bad topic", func() error {
			_, err := s.ListTopicSubscribers(asService(), &heraldv1.ListTopicSubscribersRequest{Topic: "a b"})
			return err
		}, codes.InvalidArgument, []string{"topic"}},
		{"list subscribers, token not a user", func() error {
			_, err := s.ListTopicSubscribers(asService(), &heraldv1.ListTopicSubscribersRequest{Topic: "t", PageToken: "Cg"}) // "\n"
			return err
		}, codes.InvalidArgument, []string{"page_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			if status.Code(err) != tt.code {
				t.Fatalf("err = %v, want %v", err, tt.code)
			}
			if got := fields(err); !slices.Equal(got, tt.fields) {
				t.Errorf("field violations = %q, want %q", got, tt.fields)
			}
		})
	}
}

func TestSubscriptionRequiresService(t *testing.T) {
	t.Parallel()
	s := rpc.NewSubscriptionServer(newFakeStore(), nil)
	ctx := as("alice") // a user is not a service
	if _, err := s.Subscribe(ctx, &heraldv1.SubscribeRequest{Topics: []string{"t"}, UserIds: []string{"alice"}}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Subscribe: %v", err)
	}
	if _, err := s.ListTopicSubscribers(ctx, &heraldv1.ListTopicSubscribersRequest{Topic: "t"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListTopicSubscribers: %v", err)
	}
}

func TestSubscriptionPaging(t *testing.T) {
	t.Parallel()
	st := newFakeStore()
	s := rpc.NewSubscriptionServer(st, nil)
	users, topics := seq("u", 250), seq("t", 5)
	resp, err := s.Subscribe(asService(), &heraldv1.SubscribeRequest{Topics: topics, UserIds: users})
	if err != nil || resp.GetAdded() != 1250 {
		t.Fatalf("Subscribe = %v, %v", resp, err)
	}
	if again, err := s.Subscribe(asService(), &heraldv1.SubscribeRequest{Topics: topics, UserIds: users}); err != nil || again.GetAdded() != 0 {
		t.Errorf("second Subscribe = %v, %v; want 0 added", again, err)
	}

	var got []string
	token, pages := "", 0
	for {
		p, err := s.ListTopicSubscribers(asService(), &heraldv1.ListTopicSubscribersRequest{Topic: "t00002", PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, p.GetUserIds()...)
		if pages == 1 {
			// A subscriber who arrives behind the cursor is not seen; one
			// ahead of it is, and nobody is listed twice.
			_, _ = st.Subscribe(context.Background(), []notify.Topic{"t00002"}, []notify.UserID{"u00000a", "zed"})
		}
		if token = p.GetNextPageToken(); token == "" {
			break
		}
	}
	want := append(slices.Clone(users), "zed")
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("got %d subscribers in %d pages, want %d in 3", len(got), pages, len(want))
	}

	// Default and maximum sizes; the last full page carries no token.
	p, err := s.ListUserTopics(asService(), &heraldv1.ListUserTopicsRequest{UserId: "u00007"})
	if err != nil || !slices.Equal(p.GetTopics(), topics) || p.GetNextPageToken() != "" {
		t.Errorf("ListUserTopics = %v, %v", p, err)
	}
	p, err = s.ListUserTopics(asService(), &heraldv1.ListUserTopicsRequest{UserId: "u00007", PageSize: 5})
	if err != nil || len(p.GetTopics()) != 5 || p.GetNextPageToken() != "" {
		t.Errorf("exact page: %v, %v", p, err)
	}
	p, err = s.ListUserTopics(asService(), &heraldv1.ListUserTopicsRequest{UserId: "u00007", PageSize: 2})
	if err != nil || !slices.Equal(p.GetTopics(), topics[:2]) || p.GetNextPageToken() == "" {
		t.Fatalf("first page of 2: %v, %v", p, err)
	}
	p, err = s.ListUserTopics(asService(), &heraldv1.ListUserTopicsRequest{UserId: "u00007", PageSize: 5000, PageToken: p.GetNextPageToken()})
	if err != nil || !slices.Equal(p.GetTopics(), topics[2:]) {
		t.Errorf("rest: %v, %v", p, err)
	}

	if r, err := s.Unsubscribe(asService(), &heraldv1.UnsubscribeRequest{Topics: []string{"t00000", "nope"}, UserIds: []string{"u00001", "u00002"}}); err != nil || r.GetRemoved() != 2 {
		t.Errorf("Unsubscribe = %v, %v", r, err)
	}
}

func TestSubscriptionStoreErrors(t *testing.T) {
	t.Parallel()
	st := newFakeStore()
	st.err = fmt.Errorf("embedded: %w", notify.ErrUnavailable)
	s := rpc.NewSubscriptionServer(st, nil)
	if _, err := s.Subscribe(asService(), &heraldv1.SubscribeRequest{Topics: []string{"t"}, UserIds: []string{"a"}}); status.Code(err) != codes.Unavailable {
		t.Errorf("Subscribe: %v", err)
	}
	if _, err := s.ListTopicSubscribers(asService(), &heraldv1.ListTopicSubscribersRequest{Topic: "t"}); status.Code(err) != codes.Unavailable {
		t.Errorf("ListTopicSubscribers: %v", err)
	}
}
