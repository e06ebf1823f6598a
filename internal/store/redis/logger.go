package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// clientLogEvery is the least time between two go-redis lines: while Redis
// is down its pool reports every failed dial, several times a second.
const clientLogEvery = 5 * time.Second

// ClientLogger hands go-redis's own log lines (a pool that cannot dial, a
// pub/sub connection dropped) to slog, at warn: they report trouble, and
// left to go-redis they would go to standard error unstructured, in the
// middle of the server's structured log. At most one line per
// clientLogEvery is logged, with the count of those left out before it.
// Install it with redis.SetLogger.
type ClientLogger struct {
	log     *slog.Logger
	limit   *rate.Limiter
	dropped atomic.Int64
}

// NewClientLogger returns a ClientLogger that logs to log.
func NewClientLogger(log *slog.Logger) *ClientLogger {
	return &ClientLogger{log: log, limit: rate.NewLimiter(rate.Every(clientLogEvery), 1)}
}

// Printf logs one line; go-redis's "redis: " prefix goes, the component
// attribute of the logger says as much.
func (l *ClientLogger) Printf(ctx context.Context, format string, v ...any) {
	if !l.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	if !l.limit.Allow() {
		l.dropped.Add(1)
		return
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	if n := l.dropped.Swap(0); n > 0 {
		l.log.WarnContext(ctx, msg, "suppressed_before", n)
		return
	}
	l.log.WarnContext(ctx, msg)
}
