package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/notify"
)

// refreshBatch is how many users one pipeline of a refresh round carries.
const refreshBatch = 1000

// Leases counts each user's open streams on every node sharing a Redis: a
// sorted set per user whose members are this node's and the others'
// streams, "<node>:<n>", each scored by when its lease ends. It implements
// limit.Ledger; Run refreshes this node's leases.
//
// Opening a stream is one script call (drop the user's lapsed leases,
// count, add if below max); its end is one more (ZREM, and the user seen
// now, see Presence); Run refreshes all of this node's leases every
// Lease/3, one script call per user, 1,000 users to a pipeline. A node that dies stops refreshing, and its streams stop
// counting within a Lease. Scores are Redis's clock, so the nodes' clocks
// do not matter.
//
// When Redis does not answer in time, Acquire admits the stream on this
// node's count alone (see the package comment) and the stream is tracked
// all the same: the next refresh round adds it to the set, as it adds back
// any stream whose lease lapsed while Redis was away, so that the count is
// true again once Redis answers, even if it is then above max for a while
// (no open stream is ever closed for it).
type Leases struct {
	rdb    redis.UniversalClient
	prefix string
	lease  time.Duration
	node   string
	seq    atomic.Uint64
	fo     *failOpen
	o      Options
	// seenFailed counts and logs the releases that could not record
	// when the user was last seen.
	seenFailed    *writeErrors
	presenceBound *bound.Bound

	mu   sync.Mutex
	mine map[notify.UserID]map[string]struct{} // this node's open streams
}

// NewLeases returns a ledger in the Redis of rdb under o.Prefix, for one
// node: it names itself at random.
func NewLeases(rdb redis.UniversalClient, o Options) *Leases {
	o.setDefaults()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return &Leases{
		rdb:           rdb,
		prefix:        o.Prefix,
		lease:         o.Lease,
		node:          hex.EncodeToString(id),
		fo:            newFailOpen("streams", o),
		seenFailed:    newWriteErrors(o),
		presenceBound: bound.New(presenceTimeout),
		o:             o,
		mine:          make(map[notify.UserID]map[string]struct{}),
	}
}

// Acquire counts a new stream of user unless the user has max open on all
// the nodes; release, to call when the stream ends, removes it at once.
func (l *Leases) Acquire(ctx context.Context, user notify.UserID, max int) (release func(), ok bool) {
	key := streamsKey(l.prefix, user)
	member := l.node + ":" + strconv.FormatUint(l.seq.Add(1), 10)
	if !l.fo.skipping() {
		admitted, err := bound.Call(ctx, l.fo.bound, func(ctx context.Context) (int64, error) {
			return acquireScript.Run(ctx, l.rdb, []string{key}, max, l.lease.Milliseconds(), member).Int64()
		})
		switch {
		case err != nil:
			l.fo.failed(ctx, err)
		case admitted == 0:
			return nil, false
		}
	}
	l.track(user, member)
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		l.untrack(user, member)
		if l.fo.down() {
			return // the lease lapses by itself
		}
		ctx := context.Background()
		_, err := bound.Call(ctx, l.fo.bound, func(ctx context.Context) (int64, error) {
			return releaseScript.Run(ctx, l.rdb, []string{key, seenKey(l.prefix, user)}, member).Int64()
		})
		if err != nil {
			l.seenFailed.note(ctx, err)
		}
	}, true
}

func (l *Leases) track(user notify.UserID, member string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := l.mine[user]
	if ms == nil {
		ms = make(map[string]struct{}, 1)
		l.mine[user] = ms
	}
	ms[member] = struct{}{}
}

func (l *Leases) untrack(user notify.UserID, member string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.mine[user], member)
	if len(l.mine[user]) == 0 {
		delete(l.mine, user)
	}
}

// Run refreshes this node's leases every Lease/3 until ctx ends. A round
// that fails is logged and the next one tries again; two rounds in a row
// may fail before a lease lapses.
func (l *Leases) Run(ctx context.Context) error {
	t := time.NewTicker(l.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.lease/3)
		err := l.Refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			l.o.Logger.WarnContext(ctx, "refreshing this node's stream leases in redis failed; they lapse unless a later round succeeds",
				"lease", l.lease, "err", err)
		}
	}
}

// Refresh runs one refresh round: every stream open on this node counts
// for a Lease from now.
func (l *Leases) Refresh(ctx context.Context) error {
	l.mu.Lock()
	users := make([]notify.UserID, 0, len(l.mine))
	members := make([][]string, 0, len(l.mine))
	for u, ms := range l.mine {
		users = append(users, u)
		m := make([]string, 0, len(ms))
		for id := range ms {
			m = append(m, id)
		}
		members = append(members, m)
	}
	l.mu.Unlock()

	var errs []error
	for start := 0; start < len(users); start += refreshBatch {
		end := min(start+refreshBatch, len(users))
		calls := make([]call, 0, end-start)
		for i := start; i < end; i++ {
			args := make([]any, 0, 1+len(members[i]))
			args = append(args, l.lease.Milliseconds())
			for _, m := range members[i] {
				args = append(args, m)
			}
			calls = append(calls, call{keys: []string{streamsKey(l.prefix, users[i]), seenKey(l.prefix, users[i])}, args: args})
		}
		if err := runAll(ctx, l.rdb, refreshScript, calls); err != nil {
			errs = append(errs, err)
		}
	}

	// A stream that ended while the round ran may have been added back
	// after its release's ZREM: it is removed again, now that the round
	// is over, so that it does not count for a Lease after its end.
	pipe := l.rdb.Pipeline()
	l.mu.Lock()
	for i, u := range users {
		for _, m := range members[i] {
			if _, open := l.mine[u][m]; !open {
				pipe.ZRem(ctx, streamsKey(l.prefix, u), m)
			}
		}
	}
	l.mu.Unlock()
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
