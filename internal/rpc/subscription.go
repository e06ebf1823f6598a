package rpc

import (
	"context"
	"log/slog"
	"slices"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Page sizes of the topic and subscriber listings.
const (
	defaultSubsPage = 100
	maxSubsPage     = 1000
)

// SubscriptionServer implements herald.v1.SubscriptionService. Callers
// must have passed the service-key interceptor.
type SubscriptionServer struct {
	heraldv1.UnimplementedSubscriptionServiceServer
	store store.Subscriptions
	log   *slog.Logger
}

// NewSubscriptionServer returns a SubscriptionServer over st.
func NewSubscriptionServer(st store.Subscriptions, log *slog.Logger) *SubscriptionServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SubscriptionServer{store: st, log: log}
}

// Subscribe subscribes every listed user to every listed topic.
func (s *SubscriptionServer) Subscribe(ctx context.Context, req *heraldv1.SubscribeRequest) (*heraldv1.SubscribeResponse, error) {
	topics, users, err := pairs(ctx, req.GetTopics(), req.GetUserIds())
	if err != nil {
		return nil, err
	}
	n, err := s.store.Subscribe(ctx, topics, users)
	if err != nil {
		return nil, toStatus(ctx, s.log, "Subscribe", err)
	}
	return &heraldv1.SubscribeResponse{Added: int32(n)}, nil
}

// Unsubscribe removes every listed user from every listed topic.
func (s *SubscriptionServer) Unsubscribe(ctx context.Context, req *heraldv1.UnsubscribeRequest) (*heraldv1.UnsubscribeResponse, error) {
	topics, users, err := pairs(ctx, req.GetTopics(), req.GetUserIds())
	if err != nil {
		return nil, err
	}
	n, err := s.store.Unsubscribe(ctx, topics, users)
	if err != nil {
		return nil, toStatus(ctx, s.log, "Unsubscribe", err)
	}
	return &heraldv1.UnsubscribeResponse{Removed: int32(n)}, nil
}

// pairs validates the topics × users of a (un)subscription.
func pairs(ctx context.Context, ts, us []string) ([]notify.Topic, []notify.UserID, error) {
	if _, err := sender(ctx); err != nil {
		return nil, nil, err
	}
	var v violations
	topics := v.topics("topics", ts, true)
	users := v.users("user_ids", us)
	if !v.Any() && len(topics)*len(users) > maxPairsPerCall {
		v.Add("user_ids", "topics × users is %d, at most %d per call", len(topics)*len(users), maxPairsPerCall)
	}
	if err := v.err(); err != nil {
		return nil, nil, err
	}
	if err := checkTopics(ctx, "topics", ts); err != nil {
		return nil, nil, err
	}
	return topics, users, nil
}

// ListUserTopics lists one page of a user's topics.
func (s *SubscriptionServer) ListUserTopics(ctx context.Context, req *heraldv1.ListUserTopicsRequest) (*heraldv1.ListUserTopicsResponse, error) {
	if _, err := sender(ctx); err != nil {
		return nil, err
	}
	var v violations
	user, err := notify.ParseUserID(req.GetUserId())
	if err != nil {
		v.Add("user_id", "must be 1 to %d bytes of UTF-8 without control characters", notify.MaxUserIDLen)
	}
	size := v.pageSize(req.GetPageSize(), defaultSubsPage, maxSubsPage)
	after := v.pageAfter(req.GetPageToken(), validTopic)
	if err := v.err(); err != nil {
		return nil, err
	}
	topics, next, err := topicPage(ctx, s.store, user, notify.Topic(after), size)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListUserTopics", err)
	}
	// A key scoped to some topics sees only those. The page may come out
	// short; its token still follows the unfiltered listing.
	if k, _ := auth.KeyFrom(ctx); k.TopicScoped() {
		topics = slices.DeleteFunc(topics, func(t string) bool { return !k.AllowsTopic(t) })
	}
	return &heraldv1.ListUserTopicsResponse{Topics: topics, NextPageToken: next}, nil
}

// ListTopicSubscribers lists one page of a topic's subscribers.
func (s *SubscriptionServer) ListTopicSubscribers(ctx context.Context, req *heraldv1.ListTopicSubscribersRequest) (*heraldv1.ListTopicSubscribersResponse, error) {
	if _, err := sender(ctx); err != nil {
		return nil, err
	}
	var v violations
	topic, err := notify.ParseTopic(req.GetTopic())
	if err != nil {
		v.Add("topic", "must be 1 to %d ASCII letters, digits or . _ - / :", notify.MaxTopicLen)
	}
	size := v.pageSize(req.GetPageSize(), defaultSubsPage, maxSubsPage)
	after := v.pageAfter(req.GetPageToken(), validUserID)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTopics(ctx, "topic", []string{string(topic)}); err != nil {
		return nil, err
	}
	// One more than the page tells whether another page follows, so the
	// last page says so instead of leading to an empty one.
	users, err := s.store.TopicSubscribers(ctx, topic, notify.UserID(after), size+1)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListTopicSubscribers", err)
	}
	out := &heraldv1.ListTopicSubscribersResponse{}
	if len(users) > size {
		users = users[:size]
		out.NextPageToken = pageToken(string(users[size-1]))
	}
	out.UserIds = make([]string, len(users))
	for i, u := range users {
		out.UserIds[i] = string(u)
	}
	return out, nil
}

// topicLister is the part of the store a topic listing needs.
type topicLister interface {
	UserTopics(ctx context.Context, user notify.UserID, after notify.Topic, limit int) ([]notify.Topic, error)
}

// topicPage reads one page of user's topics and its next page token.
func topicPage(ctx context.Context, st topicLister, user notify.UserID, after notify.Topic, size int) ([]string, string, error) {
	topics, err := st.UserTopics(ctx, user, after, size+1)
	if err != nil {
		return nil, "", err
	}
	var next string
	if len(topics) > size {
		topics = topics[:size]
		next = pageToken(string(topics[size-1]))
	}
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = string(t)
	}
	return out, next, nil
}
