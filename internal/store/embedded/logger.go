package embedded

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's logs into slog: its routine messages ("Found
// 0 WALs", compactions) at debug level, its errors as warnings, each
// message at most once per warnEvery while it repeats.
type pebbleLogger struct {
	log   *slog.Logger
	limit *warnLimiter
}

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.limit.logAs(l.log, slog.LevelWarn, withoutNumbers(msg), msg, "component", "pebble")
}

// Fatalf panics instead of exiting. Pebble calls it when a commit failed (a
// WAL write or sync error) and then carries on as if the commit succeeded;
// the panic is what lets the writer recover and fail the group instead of
// acknowledging it. Elsewhere (a background compaction) it crashes the
// process, as Pebble's default logger would.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "component", "pebble")
	panic(pebbleFatal(msg))
}

// pebbleFatal is the panic value of Fatalf.
type pebbleFatal string

func (p pebbleFatal) Error() string { return string(p) }
