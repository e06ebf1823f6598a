package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// ClientLogger hands go-redis's own log lines (a pool that cannot dial, a
// pub/sub connection dropped) to slog, at warn: they report trouble, and
// left to go-redis they would go to standard error unstructured, in the
// middle of the server's structured log. Install it with redis.SetLogger.
type ClientLogger struct{ Log *slog.Logger }

// Printf logs one line; go-redis's "redis: " prefix goes, the component
// attribute of Log says as much.
func (l ClientLogger) Printf(ctx context.Context, format string, v ...any) {
	if !l.Log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	l.Log.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
