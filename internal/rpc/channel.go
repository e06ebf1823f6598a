package rpc

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// Page sizes of ListChannelEvents.
const (
	defaultChannelPage = 50
	maxChannelPage     = 1000
)

// ChannelStore is what ListChannelEvents reads; store.Store implements it.
type ChannelStore interface {
	ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error)
	ChannelHistory(ctx context.Context, ch notify.Channel, limit int) ([]notify.Entry, error)
}

// ChannelConfig configures a ChannelServer.
type ChannelConfig struct {
	Store  ChannelStore
	Policy auth.ChannelPolicy
	Logger *slog.Logger
}

// ChannelServer implements herald.v1.ChannelService: channels' histories,
// open to a caller as the channel's stream is (auth.ChannelPolicy).
type ChannelServer struct {
	heraldv1.UnimplementedChannelServiceServer
	cfg ChannelConfig
}

// NewChannelServer returns a ChannelServer.
func NewChannelServer(cfg ChannelConfig) *ChannelServer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ChannelServer{cfg: cfg}
}

// ListChannelEvents returns a page of a channel's history after an offset.
// A caller with no token reads anonymous channels only (the authenticator
// lets such calls through to be judged here).
func (s *ChannelServer) ListChannelEvents(ctx context.Context, req *heraldv1.ListChannelEventsRequest) (*heraldv1.ListChannelEventsResponse, error) {
	var v violations
	ch, err := notify.ParseChannel(req.GetChannel())
	if err != nil {
		v.Add("channel", "must be a channel name: ASCII letters, digits and ._-/:, at most 200 bytes")
	}
	var after notify.Cursor
	if a := req.GetAfter(); a != "" {
		c, err := notify.ParseCursor(a)
		if err != nil {
			v.Add("after", "must be the cursor of an earlier event of the channel (decimal digits)")
		}
		after = c
	}
	limit := int(req.GetLimit())
	switch {
	case limit < 0 || limit > maxChannelPage:
		v.Add("limit", "must be between 0 and %d", maxChannelPage)
	case limit == 0:
		limit = defaultChannelPage
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var claims *auth.Claims
	if c, ok := auth.ClaimsFrom(ctx); ok {
		claims = &c
	}
	if err := s.cfg.Policy.Allow(claims, ch); err != nil {
		if claims == nil {
			return nil, status.Error(codes.Unauthenticated, "a user token is required: "+err.Error())
		}
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	var events []notify.Entry
	if req.GetAfter() == "" {
		events, err = s.cfg.Store.ChannelHistory(ctx, ch, limit)
	} else {
		events, err = s.cfg.Store.ChannelRead(ctx, ch, after, limit)
	}
	if errors.Is(err, notify.ErrCursorExpired) {
		return nil, status.Error(codes.OutOfRange, "after is older than the channel's retained history, or beyond its newest event: list again without it")
	}
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "ListChannelEvents", err)
	}
	resp := &heraldv1.ListChannelEventsResponse{Events: make([]*heraldv1.Event, len(events))}
	next := after
	for i, e := range events {
		resp.Events[i] = eventOf(e)
		next = e.Cursor
	}
	resp.NextAfter = next.String()
	p := resume.Position{Channels: []resume.ChannelOffset{{Hash: resume.ChannelHash(ch), Offset: next}}}
	resp.StreamCursor = p.String()
	return resp, nil
}
