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

// checkTopics refuses, with PERMISSION_DENIED naming the topic, any of
// topics outside the patterns of the caller's API key. field says where the
// topics are in the request.
func checkTopics(ctx context.Context, field string, topics []string) error {
	k, _ := auth.KeyFrom(ctx)
	t, denied := k.DeniedTopic(topics)
	if !denied {
		return nil
	}
	msg := fmt.Sprintf("API key of service %q may not use topic %q (%s); its topics: %s", k.Name, t, field, strings.Join(k.Topics, ","))
	st, err := status.New(codes.PermissionDenied, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   topicOutOfScope,
		Domain:   "herald",
		Metadata: map[string]string{"service": k.Name, "topic": t, "field": field},
	})
	if err != nil {
		return status.Error(codes.PermissionDenied, msg)
	}
	return st.Err()
}

// checkAudienceTopics checks the audience topics of notifications, the
// list field of the request (with index) or its single notification field.
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
	}
	return nil
}
