// Package rpc implements Herald's gRPC services on top of ingest and the
// store, and is the one place where domain errors become gRPC status codes.
package rpc

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/store"
)

// NotifyServer implements herald.v1.NotifyService. Callers must have passed
// the Auth interceptor, which names the sending service and its key's scope.
type NotifyServer struct {
	heraldv1.UnimplementedNotifyServiceServer
	svc   *ingest.Service
	log   *slog.Logger
	limit *RateLimiter
}

// NotifyOption configures a NotifyServer.
type NotifyOption func(*NotifyServer)

// WithRateLimiter bounds each service's notifications per second: every
// notification counts, a batch of n counts n.
func WithRateLimiter(l *RateLimiter) NotifyOption {
	return func(s *NotifyServer) { s.limit = l }
}

// NewNotifyServer returns a NotifyServer that hands notifications to svc.
func NewNotifyServer(svc *ingest.Service, log *slog.Logger, opts ...NotifyOption) *NotifyServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &NotifyServer{svc: svc, log: log}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Notify delivers one notification.
func (s *NotifyServer) Notify(ctx context.Context, req *heraldv1.NotifyRequest) (*heraldv1.NotifyResponse, error) {
	sender, err := sender(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkAudienceTopics(ctx, "notification", false, req.GetNotification()); err != nil {
		return nil, err
	}
	undo, err := s.limit.take(ctx, 1)
	if err != nil {
		return nil, err
	}
	r, err := s.svc.NotifyOne(ctx, sender, req.GetNotification())
	if err != nil {
		undo()
		return nil, toStatus(ctx, s.log, "Notify", err)
	}
	return response(r), nil
}

// NotifyBatch delivers several notifications, all or none.
func (s *NotifyServer) NotifyBatch(ctx context.Context, req *heraldv1.NotifyBatchRequest) (*heraldv1.NotifyBatchResponse, error) {
	sender, err := sender(ctx)
	if err != nil {
		return nil, err
	}
	ns := req.GetNotifications()
	if err := checkAudienceTopics(ctx, "notifications", true, ns...); err != nil {
		return nil, err
	}
	undo, err := s.limit.take(ctx, len(ns))
	if err != nil {
		return nil, err
	}
	rs, err := s.svc.Notify(ctx, sender, ns)
	if err != nil {
		undo()
		return nil, toStatus(ctx, s.log, "NotifyBatch", err)
	}
	out := &heraldv1.NotifyBatchResponse{Results: make([]*heraldv1.NotifyResponse, len(rs))}
	for i, r := range rs {
		out.Results[i] = response(r)
	}
	return out, nil
}

// sender returns the authenticated service. Its absence means the server was
// wired without the auth interceptor; refusing then keeps a wiring mistake
// from opening the API.
func sender(ctx context.Context) (string, error) {
	name, ok := auth.ServiceFrom(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "missing service credential")
	}
	return name, nil
}

func response(r store.Result) *heraldv1.NotifyResponse {
	return &heraldv1.NotifyResponse{Id: r.ID, Recipients: int32(r.Recipients), Duplicate: r.Duplicate}
}
