package sse

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// Store is the part of the inbox store a stream reads on resume. The
// store.Store backends satisfy it.
type Store interface {
	// Read returns up to limit entries of user after the cursor, oldest
	// first, or notify.ErrCursorExpired if retention removed some of them.
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	// Last returns the user's newest cursor.
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
}

// ChannelStore is the part of the channel histories a stream reads; the
// store.Store backends satisfy it.
type ChannelStore interface {
	ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error)
	ChannelLast(ctx context.Context, ch notify.Channel) (notify.Cursor, error)
}

// Verifier checks a user token; auth.JWTVerifier satisfies it.
type Verifier interface {
	Verify(ctx context.Context, token string) (auth.Claims, error)
}

// Tickets issues and redeems stream tickets; ticket.Memory and ticket.Redis
// implement it.
type Tickets interface {
	// Issue returns a new ticket carrying c and how long it lives.
	Issue(ctx context.Context, c auth.Claims) (ticket string, ttl time.Duration, err error)
	// Redeem returns the claims of a ticket and ends it; ok is false when
	// the ticket is unknown, used or expired, err set when the store of
	// tickets failed.
	Redeem(ctx context.Context, ticket string) (c auth.Claims, ok bool, err error)
}

// StreamLimiter bounds a user's open streams; limit.Streams implements it.
type StreamLimiter interface {
	// Acquire counts a new stream of user, or reports false when the user
	// has too many open; release is called when the stream ends.
	Acquire(ctx context.Context, user notify.UserID) (release func(), ok bool)
}

// Defaults for zero Config fields.
const (
	DefaultHeartbeat      = 15 * time.Second
	DefaultRetry          = 3 * time.Second
	DefaultShutdownJitter = 5 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultQueueSize      = 256
	DefaultReplayBatch    = 256
	DefaultMaxChannels    = 16
)

// Config configures a Handler. Store, Hub and Verifier are required; zero
// values of the rest mean the documented defaults.
type Config struct {
	Store Store
	Hub   *hub.Hub
	// Channels are the channels' histories; nil serves no channels (a
	// stream asking for some is refused with 400).
	Channels ChannelStore
	// ChannelPolicy says who may listen to which channel.
	ChannelPolicy auth.ChannelPolicy
	// MaxChannels bounds the channels of one stream (default 16).
	MaxChannels int
	// WaitLive, when set, is called for each key of a stream (its user,
	// its channels' keys) after it subscribed to the hub and before it
	// answers, and blocks until entries committed from then on reach the
	// hub (in cluster mode: until the bus is subscribed to the key's
	// channel); a stream waits at most 2 s.
	WaitLive func(ctx context.Context, key notify.UserID) error
	Verifier Verifier
	// Tickets, when set, lets a stream open with `ticket=` instead of a
	// token, and serves POST /v1/stream-tickets (TicketHandler).
	Tickets Tickets
	// Streams, when set, bounds each user's open streams: one more is
	// refused with 429 before it starts.
	Streams StreamLimiter
	// Logger is never given a token or a query string; nil discards.
	Logger *slog.Logger

	// Heartbeat is the interval of `: keep-alive` comments on an idle
	// stream (default 15 s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to clients (default 3 s).
	Retry time.Duration
	// ShutdownJitter bounds the random delay added to Retry in the final
	// frame at shutdown, so clients do not all reconnect at once (default
	// 5 s).
	ShutdownJitter time.Duration
	// WriteTimeout bounds each write and flush, so a peer that stopped
	// reading is dropped (default 10 s).
	WriteTimeout time.Duration
	// QueueSize is each stream's hub queue length (default 256). A stream
	// that falls this far behind is closed and resumes from its cursor.
	QueueSize int
	// ReplayBatch is how many entries a resume reads per store call
	// (default 256).
	ReplayBatch int

	// AllowedOrigins is the CORS allow-list of exact origins
	// ("https://app.example.com"), echoed with credentials allowed, since
	// browsers may send the token cookie; "*" lets any other origin read
	// the stream without credentials. The cookie authenticates only
	// same-origin requests and those from a listed origin.
	AllowedOrigins []string

	// Registerer receives the handler's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.ShutdownJitter <= 0 {
		c.ShutdownJitter = DefaultShutdownJitter
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.ReplayBatch <= 0 {
		c.ReplayBatch = DefaultReplayBatch
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = DefaultMaxChannels
	}
}
