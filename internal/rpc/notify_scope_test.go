package rpc_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/rpc"
)

// asKey is a request context authenticated with a key of the key file line.
func asKey(t *testing.T, line string) context.Context {
	t.Helper()
	keys, err := auth.ParseKeyFile([]byte("hash=" + auth.HashAPIKey("k") + " " + line))
	if err != nil {
		t.Fatal(err)
	}
	return auth.WithKey(context.Background(), &keys[0])
}

func toTopics(topics ...string) *heraldv1.Notification {
	return &heraldv1.Notification{Audience: &heraldv1.Audience{Topics: topics, UserIds: []string{"alice"}}, Title: "Hi"}
}

// wantDenied checks a PERMISSION_DENIED naming the topic, with an ErrorInfo.
func wantDenied(t *testing.T, err error, topic, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), `topic "`+topic+`"`) || !strings.Contains(st.Message(), field) {
		t.Fatalf("err = %v, want PermissionDenied naming topic %q and field %q", err, topic, field)
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == "TOPIC_OUT_OF_SCOPE" && ei.GetMetadata()["topic"] == topic {
			return
		}
	}
	t.Errorf("no ErrorInfo for %q in %v", topic, st.Details())
}

func TestNotifyTopicScope(t *testing.T) {
	t.Parallel()
	s := rpc.NewNotifyServer(ingest.New(router.New(nil), titleAppender{}, ingest.Options{}), nil)
	ctx := asKey(t, "name=billing topics=order:*,billing/*")

	if _, err := s.Notify(ctx, &heraldv1.NotifyRequest{Notification: toTopics("order:1", "billing/eu")}); err != nil {
		t.Errorf("topics inside the scope: %v", err)
	}
	if _, err := s.Notify(ctx, &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"a"}}, Title: "Hi"}}); err != nil {
		t.Errorf("no topics: %v", err)
	}
	_, err := s.Notify(ctx, &heraldv1.NotifyRequest{Notification: toTopics("order:1", "ads")})
	wantDenied(t, err, "ads", "notification.audience.topics")
	_, err = s.NotifyBatch(ctx, &heraldv1.NotifyBatchRequest{Notifications: []*heraldv1.Notification{toTopics("order:1"), toTopics("billing/eu/de")}})
	wantDenied(t, err, "billing/eu/de", "notifications[1].audience.topics")

	// A full-scope key and development mode's keyless service may use any.
	for _, ctx := range []context.Context{asKey(t, "name=ops"), auth.WithService(context.Background(), auth.DevService)} {
		if _, err := s.Notify(ctx, &heraldv1.NotifyRequest{Notification: toTopics("ads")}); err != nil {
			t.Errorf("unscoped: %v", err)
		}
	}
}

// TestNotifyChannelScope checks that a key's topic patterns confine the
// channels it may publish to as well.
func TestNotifyChannelScope(t *testing.T) {
	t.Parallel()
	s := rpc.NewNotifyServer(ingest.New(router.New(nil), titleAppender{}, ingest.Options{}), nil)
	ctx := asKey(t, "name=billing topics=billing/*")
	toChannels := func(channels ...string) *heraldv1.NotifyRequest {
		return &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{Audience: &heraldv1.Audience{Channels: channels}, Title: "Hi"}}
	}
	if _, err := s.Notify(ctx, toChannels("billing/status")); err != nil {
		t.Errorf("channel inside the scope: %v", err)
	}
	_, err := s.Notify(ctx, toChannels("billing/status", "rooms/lobby"))
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), `channel "rooms/lobby"`) || !strings.Contains(st.Message(), "notification.audience.channels") {
		t.Fatalf("err = %v, want PermissionDenied naming the channel and its field", err)
	}
	found := false
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == "CHANNEL_OUT_OF_SCOPE" && ei.GetMetadata()["channel"] == "rooms/lobby" {
			found = true
		}
	}
	if !found {
		t.Errorf("no CHANNEL_OUT_OF_SCOPE ErrorInfo in %v", st.Details())
	}
}

func TestSubscriptionTopicScope(t *testing.T) {
	t.Parallel()
	st := newFakeStore()
	s := rpc.NewSubscriptionServer(st, nil)
	full := asKey(t, "name=ops")
	if _, err := s.Subscribe(full, &heraldv1.SubscribeRequest{Topics: []string{"order:1", "ads", "billing/x"}, UserIds: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	ctx := asKey(t, "name=billing topics=order:*,billing/*")

	if _, err := s.Subscribe(ctx, &heraldv1.SubscribeRequest{Topics: []string{"order:2"}, UserIds: []string{"bob"}}); err != nil {
		t.Errorf("Subscribe inside the scope: %v", err)
	}
	_, err := s.Subscribe(ctx, &heraldv1.SubscribeRequest{Topics: []string{"order:2", "ads"}, UserIds: []string{"bob"}})
	wantDenied(t, err, "ads", "topics")
	_, err = s.Unsubscribe(ctx, &heraldv1.UnsubscribeRequest{Topics: []string{"ads"}, UserIds: []string{"alice"}})
	wantDenied(t, err, "ads", "topics")
	_, err = s.ListTopicSubscribers(ctx, &heraldv1.ListTopicSubscribersRequest{Topic: "ads"})
	wantDenied(t, err, "ads", "topic")
	if _, err := s.ListTopicSubscribers(ctx, &heraldv1.ListTopicSubscribersRequest{Topic: "order:1"}); err != nil {
		t.Errorf("ListTopicSubscribers inside the scope: %v", err)
	}

	// A user's topics outside the scope are left out of the listing.
	resp, err := s.ListUserTopics(ctx, &heraldv1.ListUserTopicsRequest{UserId: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.GetTopics(), []string{"billing/x", "order:1"}; !slices.Equal(got, want) {
		t.Errorf("scoped ListUserTopics = %q, want %q", got, want)
	}
	resp, err = s.ListUserTopics(full, &heraldv1.ListUserTopicsRequest{UserId: "alice"})
	if err != nil || len(resp.GetTopics()) != 3 {
		t.Errorf("full ListUserTopics = %q, %v; want all 3", resp.GetTopics(), err)
	}
}
