package limit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/promreg"
)

// Ledger counts a user's streams on every node of a cluster;
// redislimit.Leases implements it.
type Ledger interface {
	// Acquire counts a new stream of user, or reports false when the user
	// has max open across the nodes; release is called when the stream
	// ends. A ledger that cannot tell decides itself (redislimit admits).
	Acquire(ctx context.Context, user notify.UserID, max int) (release func(), ok bool)
}

// Streams counts the open streams of each user and refuses one more than
// max: on this node, and with a Ledger on every node. The zero value is not
// usable; call NewStreams.
type Streams struct {
	max     int
	ledger  Ledger
	refused prometheus.Counter

	mu   sync.Mutex
	open map[notify.UserID]int
}

// StreamsOption configures Streams.
type StreamsOption func(*Streams)

// WithLedger counts streams in l as well, so that max holds across the
// nodes that share l. This node's own count is checked first, so a user
// with max streams here is refused without asking l.
func WithLedger(l Ledger) StreamsOption {
	return func(s *Streams) { s.ledger = l }
}

// NewStreams returns a counter allowing max open streams per user; max <= 0
// means no limit. reg, when not nil, receives the refusal counter (see
// promreg; a failure is logged to log).
func NewStreams(max int, reg prometheus.Registerer, log *slog.Logger, opts ...StreamsOption) *Streams {
	s := &Streams{
		max:  max,
		open: make(map[notify.UserID]int),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "limit", Name: "streams_refused_total",
			Help: "Streams refused because their user had --max-streams-per-user open.",
		}),
	}
	for _, o := range opts {
		o(s)
	}
	s.refused = promreg.Register(reg, log, s.refused)
	return s
}

// Acquire counts a new stream of user. It reports false when the user
// already has the maximum open; otherwise release must be called when the
// stream ends (calling it again does nothing). ctx bounds the ledger's
// answer, if there is a ledger.
func (s *Streams) Acquire(ctx context.Context, user notify.UserID) (release func(), ok bool) {
	// The local slot is taken before the ledger is asked, so that this
	// node's own streams never pass max while the ledger answers. Without
	// a max the streams are still counted: Open answers presence.
	s.mu.Lock()
	n := s.open[user]
	if s.max > 0 && n >= s.max {
		s.mu.Unlock()
		s.refused.Inc()
		return nil, false
	}
	s.open[user] = n + 1
	s.mu.Unlock()

	shared := func() {}
	if s.ledger != nil && s.max > 0 {
		if shared, ok = s.ledger.Acquire(ctx, user, s.max); !ok {
			s.free(user)
			s.refused.Inc()
			return nil, false
		}
	}
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		s.free(user)
		shared()
	}, true
}

// free gives back one of user's local slots.
func (s *Streams) free(user notify.UserID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.open[user] - 1; n > 0 {
		s.open[user] = n
	} else {
		delete(s.open, user) // the map holds only users with streams
	}
}

// Open returns how many streams user has open on this node.
func (s *Streams) Open(user notify.UserID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[user]
}
