package limit

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/promreg"
)

// Streams counts the open streams of each user and refuses one more than
// max. The zero value is not usable; call NewStreams.
type Streams struct {
	max     int
	refused prometheus.Counter

	mu   sync.Mutex
	open map[notify.UserID]int
}

// NewStreams returns a counter allowing max open streams per user; max <= 0
// means no limit. reg, when not nil, receives the refusal counter (see
// promreg; a failure is logged to log).
func NewStreams(max int, reg prometheus.Registerer, log *slog.Logger) *Streams {
	s := &Streams{
		max:  max,
		open: make(map[notify.UserID]int),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "limit", Name: "streams_refused_total",
			Help: "Streams refused because their user had --max-streams-per-user open.",
		}),
	}
	s.refused = promreg.Register(reg, log, s.refused)
	return s
}

// Acquire counts a new stream of user. It reports false when the user
// already has the maximum open; otherwise release must be called when the
// stream ends (calling it again does nothing).
func (s *Streams) Acquire(user notify.UserID) (release func(), ok bool) {
	if s.max <= 0 {
		return func() {}, true
	}
	s.mu.Lock()
	n := s.open[user]
	if n >= s.max {
		s.mu.Unlock()
		s.refused.Inc()
		return nil, false
	}
	s.open[user] = n + 1
	s.mu.Unlock()

	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		s.mu.Lock()
		if n := s.open[user] - 1; n > 0 {
			s.open[user] = n
		} else {
			delete(s.open, user) // the map holds only users with streams
		}
		s.mu.Unlock()
	}, true
}

// Open returns how many streams user has open.
func (s *Streams) Open(user notify.UserID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[user]
}
