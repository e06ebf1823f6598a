package rpc

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
)

// topicOutOfScope is the ErrorInfo reason of a topic the caller's key may
// not use.
const topicOutOfScope = "TOPIC_OUT_OF_SCOPE"

// channelOutOfScope is the ErrorInfo reason of a channel the caller's key
// may not publish to.
const channelOutOfScope = "CHANNEL_OUT_OF_SCOPE"

// checkTopics refuses, with PERMISSION_DENIED naming the topic, any of
// topics outside the patterns of the caller's API key. field says where the
// topics are in the request.
func checkTopics(ctx context.Context, field string, topics []string) error {
	return checkScope(ctx, field, "topic", topicOutOfScope, topics)
}

// checkScope refuses any of names (topics, or channels, which the key's
// topic patterns scope too) outside the patterns of the caller's API key.
func checkScope(ctx context.Context, field, kind, reason string, names []string) error {
	k, _ := auth.KeyFrom(ctx)
	t, denied := k.DeniedTopic(names)
	if !denied {
		return nil
	}
	msg := fmt.Sprintf("API key of service %q may not use %s %q (%s); its topics: %s", k.Name, kind, t, field, strings.Join(k.Topics, ","))
	st, err := status.New(codes.PermissionDenied, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   reason,
		Domain:   "herald",
		Metadata: map[string]string{"service": k.Name, kind: t, "field": field},
	})
	if err != nil {
		return status.Error(codes.PermissionDenied, msg)
	}
	return st.Err()
}

// checkAudienceTopics checks the audience topics and channels of
// notifications, the list field of the request (with index) or its single
// notification field. A key's topic patterns scope the channels it may
// publish to as well: a key confined to billing/* may not post to a room.
func checkAudienceTopics(ctx context.Context, field string, list bool, ns ...*heraldv1.Notification) error {
	if k, _ := auth.KeyFrom(ctx); !k.TopicScoped() {
		return nil
	}
	for i, n := range ns {
		f := field + ".audience.topics"
		if list {
			f = fmt.Sprintf("%s[%d].audience.topics", field, i)
		}
		if err := checkTopics(ctx, f, n.GetAudience().GetTopics()); err != nil {
			return err
		}
		cf := strings.TrimSuffix(f, "topics") + "channels"
		if err := checkScope(ctx, cf, "channel", channelOutOfScope, n.GetAudience().GetChannels()); err != nil {
			return err
		}
	}
	return nil
}
