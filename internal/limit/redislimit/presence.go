package redislimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/presence"
	"github.com/heraldhq/herald/internal/promreg"
)

// presenceTimeout bounds a presence read: one pipeline of at most a
// request's users.
const presenceTimeout = time.Second

// Presence returns each of users' presence across the nodes sharing the
// Redis, in their order: online while a lease of theirs has not lapsed
// (a stream open on any node, or on a node that died less than a Lease
// ago), and last seen when their last stream closed, or when a node last
// refreshed a lease of theirs (a node that died). Redis not answering
// within a second is a *notify.UnavailableError: presence is never guessed.
func (l *Leases) Presence(ctx context.Context, users []notify.UserID) ([]presence.State, error) {
	calls := make([]call, len(users))
	for i, u := range users {
		calls[i] = call{keys: []string{streamsKey(l.prefix, u), seenKey(l.prefix, u)}}
	}
	_, err := bound.Call(ctx, l.presenceBound, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, runAll(ctx, l.rdb, presenceScript, calls)
	})
	if err != nil {
		return nil, &notify.UnavailableError{Dependency: "redis", Err: fmt.Errorf("redislimit: read presence: %w", err)}
	}
	out := make([]presence.State, len(users))
	for i, c := range calls {
		st, err := presenceState(users[i], c.cmd)
		if err != nil {
			return nil, &notify.UnavailableError{Dependency: "redis", Err: err}
		}
		out[i] = st
	}
	return out, nil
}

// presenceState decodes presenceScript's answer.
func presenceState(u notify.UserID, cmd interface{ Slice() ([]any, error) }) (presence.State, error) {
	reply, err := cmd.Slice()
	if err != nil || len(reply) == 0 {
		return presence.State{}, fmt.Errorf("redislimit: presence of %s: unexpected reply %v: %w", u, reply, err)
	}
	st := presence.State{User: u}
	if n, ok := reply[0].(int64); ok && n > 0 {
		st.Online = true
	}
	if len(reply) > 1 {
		if s, ok := reply[1].(string); ok {
			var ms int64
			if _, err := fmt.Sscan(s, &ms); err == nil && ms > 0 {
				st.LastSeen = time.UnixMilli(ms).UTC()
			}
		}
	}
	return st, nil
}

// writeErrors counts the presence writes that failed and logs them at most
// once per 10 s: they are best effort, and a stream never waits on them.
type writeErrors struct {
	count   prometheus.Counter
	log     *slog.Logger
	logs    *rate.Limiter
	dropped atomic.Int64
}

func newWriteErrors(o Options) *writeErrors {
	return &writeErrors{
		count: promreg.Register(o.Registerer, o.Logger, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "presence", Name: "write_errors_total",
			Help: "Stream ends whose last seen time Redis did not record in time (the stream's lease then lapses by itself).",
		})),
		log:  o.Logger,
		logs: rate.NewLimiter(rate.Every(logEvery), 1),
	}
}

func (w *writeErrors) note(ctx context.Context, err error) {
	w.count.Inc()
	if !w.logs.Allow() {
		w.dropped.Add(1)
		return
	}
	w.log.WarnContext(ctx, "redis did not record a stream's end; the user shows online until its lease lapses",
		"err", err, "suppressed_before", w.dropped.Swap(0))
}
