package rest

import (
	"context"

	"google.golang.org/grpc"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// call runs one method of srv through ic, as a gRPC server would for a call
// of that method, with the request the gateway decoded.
func call[Req, Resp any](ctx context.Context, ic grpc.UnaryServerInterceptor, srv any, method string, req Req, h func(context.Context, Req) (Resp, error)) (Resp, error) {
	out, err := ic(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, func(ctx context.Context, r any) (any, error) {
		return h(ctx, r.(Req))
	})
	if err != nil {
		var zero Resp
		return zero, err
	}
	return out.(Resp), nil
}

// The types below are the services as the gateway calls them in process:
// each method runs the interceptor chain, then the implementation. Methods
// without an HTTP route (InboxService.Stream) stay unimplemented here.

type notifyService struct {
	heraldv1.UnimplementedNotifyServiceServer
	srv heraldv1.NotifyServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (s notifyService) Notify(ctx context.Context, r *heraldv1.NotifyRequest) (*heraldv1.NotifyResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.NotifyService_Notify_FullMethodName, r, s.srv.Notify)
}

func (s notifyService) NotifyBatch(ctx context.Context, r *heraldv1.NotifyBatchRequest) (*heraldv1.NotifyBatchResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.NotifyService_NotifyBatch_FullMethodName, r, s.srv.NotifyBatch)
}

type subscriptionService struct {
	heraldv1.UnimplementedSubscriptionServiceServer
	srv heraldv1.SubscriptionServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (s subscriptionService) Subscribe(ctx context.Context, r *heraldv1.SubscribeRequest) (*heraldv1.SubscribeResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.SubscriptionService_Subscribe_FullMethodName, r, s.srv.Subscribe)
}

func (s subscriptionService) Unsubscribe(ctx context.Context, r *heraldv1.UnsubscribeRequest) (*heraldv1.UnsubscribeResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.SubscriptionService_Unsubscribe_FullMethodName, r, s.srv.Unsubscribe)
}

func (s subscriptionService) ListUserTopics(ctx context.Context, r *heraldv1.ListUserTopicsRequest) (*heraldv1.ListUserTopicsResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.SubscriptionService_ListUserTopics_FullMethodName, r, s.srv.ListUserTopics)
}

func (s subscriptionService) ListTopicSubscribers(ctx context.Context, r *heraldv1.ListTopicSubscribersRequest) (*heraldv1.ListTopicSubscribersResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.SubscriptionService_ListTopicSubscribers_FullMethodName, r, s.srv.ListTopicSubscribers)
}

type inboxService struct {
	heraldv1.UnimplementedInboxServiceServer
	srv heraldv1.InboxServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (s inboxService) ListInbox(ctx context.Context, r *heraldv1.ListInboxRequest) (*heraldv1.ListInboxResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_ListInbox_FullMethodName, r, s.srv.ListInbox)
}

func (s inboxService) MarkInbox(ctx context.Context, r *heraldv1.MarkInboxRequest) (*heraldv1.MarkInboxResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_MarkInbox_FullMethodName, r, s.srv.MarkInbox)
}

func (s inboxService) GetInboxCounts(ctx context.Context, r *heraldv1.GetInboxCountsRequest) (*heraldv1.GetInboxCountsResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_GetInboxCounts_FullMethodName, r, s.srv.GetInboxCounts)
}

func (s inboxService) ListMySubscriptions(ctx context.Context, r *heraldv1.ListMySubscriptionsRequest) (*heraldv1.ListMySubscriptionsResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_ListMySubscriptions_FullMethodName, r, s.srv.ListMySubscriptions)
}

func (s inboxService) SubscribeMe(ctx context.Context, r *heraldv1.SubscribeMeRequest) (*heraldv1.SubscribeMeResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_SubscribeMe_FullMethodName, r, s.srv.SubscribeMe)
}

func (s inboxService) UnsubscribeMe(ctx context.Context, r *heraldv1.UnsubscribeMeRequest) (*heraldv1.UnsubscribeMeResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_UnsubscribeMe_FullMethodName, r, s.srv.UnsubscribeMe)
}

func (s inboxService) GetPreferences(ctx context.Context, r *heraldv1.GetPreferencesRequest) (*heraldv1.GetPreferencesResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_GetPreferences_FullMethodName, r, s.srv.GetPreferences)
}

func (s inboxService) UpdatePreferences(ctx context.Context, r *heraldv1.UpdatePreferencesRequest) (*heraldv1.UpdatePreferencesResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.InboxService_UpdatePreferences_FullMethodName, r, s.srv.UpdatePreferences)
}

type channelService struct {
	heraldv1.UnimplementedChannelServiceServer
	srv heraldv1.ChannelServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (s channelService) ListChannelEvents(ctx context.Context, r *heraldv1.ListChannelEventsRequest) (*heraldv1.ListChannelEventsResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.ChannelService_ListChannelEvents_FullMethodName, r, s.srv.ListChannelEvents)
}

type presenceService struct {
	heraldv1.UnimplementedPresenceServiceServer
	srv heraldv1.PresenceServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (s presenceService) GetPresence(ctx context.Context, r *heraldv1.GetPresenceRequest) (*heraldv1.GetPresenceResponse, error) {
	return call(ctx, s.ic, s.srv, heraldv1.PresenceService_GetPresence_FullMethodName, r, s.srv.GetPresence)
}
