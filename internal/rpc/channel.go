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
	"github.com/heraldhq/herald/internal/store"
)

// Page sizes of ListChannelEvents.
const (
	defaultChannelPage = 50
	maxChannelPage     = 1000
)

// ChannelConfig configures a ChannelServer.
type ChannelConfig struct {
	Store  resume.ChannelStore
	Policy auth.ChannelPolicy
	// History is how many events a channel keeps (--channel-history;
	// default store.DefaultChannelHistory): where a request without
	// `after` looks first for the oldest retained event.
	History int
	Logger  *slog.Logger
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
	if cfg.History <= 0 {
		cfg.History = store.DefaultChannelHistory
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
		events, after, err = s.readOldest(ctx, ch, limit)
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

// readOldest reads ch from its oldest retained event, for a request
// without `after`, and returns the offset it read after. The store reads
// after 0 only while a history is whole (see store.Channels); once events
// were trimmed, readOldest looks for the least offset after which a read
// misses nothing, with reads of one event: first the newest offset less
// the history's length and the one below it (one history's offsets are
// consecutive, so that is the answer when events went by count), then
// steps that double downwards, then bisection between the last two.
func (s *ChannelServer) readOldest(ctx context.Context, ch notify.Channel, limit int) ([]notify.Entry, notify.Cursor, error) {
	events, err := s.cfg.Store.ChannelRead(ctx, ch, 0, limit)
	if !errors.Is(err, notify.ErrCursorExpired) {
		return events, 0, err
	}
	last, err := s.cfg.Store.ChannelLast(ctx, ch)
	if err != nil {
		return nil, 0, err
	}
	// A read after lo misses events (after 0 did), one after hi does not.
	lo, hi := notify.Cursor(0), last
	step := notify.Cursor(s.cfg.History)
	for i := 0; i < 64 && step <= hi; i++ {
		probe := hi - step
		missed, err := s.misses(ctx, ch, probe)
		if err != nil {
			return nil, 0, err
		}
		if missed {
			lo = probe
			break
		}
		hi = probe
		if i == 0 {
			step = 1
		} else {
			step *= 2
		}
	}
	for i := 0; i < 64 && hi-lo > 1; i++ {
		mid := lo + (hi-lo)/2
		missed, err := s.misses(ctx, ch, mid)
		if err != nil {
			return nil, 0, err
		}
		if missed {
			lo = mid
		} else {
			hi = mid
		}
	}
	events, err = s.cfg.Store.ChannelRead(ctx, ch, hi, limit)
	return events, hi, err
}

// misses reports whether a read of ch after `after` misses events.
func (s *ChannelServer) misses(ctx context.Context, ch notify.Channel, after notify.Cursor) (bool, error) {
	if after == 0 {
		return true, nil // readOldest read after 0 first
	}
	_, err := s.cfg.Store.ChannelRead(ctx, ch, after, 1)
	if errors.Is(err, notify.ErrCursorExpired) {
		return true, nil
	}
	return false, err
}
