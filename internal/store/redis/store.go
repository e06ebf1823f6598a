package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storemetrics"
)

// Store is the Redis backend of store.Store.
type Store struct {
	opts    Options
	rdb     redis.UniversalClient
	owned   bool // rdb was made from Options.URL: Close closes it
	metrics *storemetrics.Metrics

	// mu guards closed and sending on reqs: Close takes it exclusively, so
	// no Append is between its check and its send when reqs is closed.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request
	done   chan struct{} // closed when the writer has exited

	// afterAppend, if set (by tests), runs between a group's entries and
	// its idempotency records; an error fails the group there, as a crash
	// would.
	afterAppend func() error

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open returns a store on the Redis of opts. It does not wait for Redis to
// answer: Ready tells whether it does, and every call fails with
// notify.ErrUnavailable while it does not.
func Open(ctx context.Context, opts Options) (*Store, error) {
	_ = ctx // reserved: nothing to wait for yet; scripts load on first use
	opts = opts.withDefaults()
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("store: redis prefix %q: may not contain '{' or '}'", opts.Prefix)
	}
	if _, err := ParseLayout(string(opts.Layout)); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{
		opts: opts,
		rdb:  opts.Client,
		reqs: make(chan *request, 1024),
		done: make(chan struct{}),
	}
	if s.rdb == nil {
		c, err := newClient(opts)
		if err != nil {
			return nil, err
		}
		s.rdb, s.owned = c, true
	}
	s.metrics = storemetrics.New(opts.Registerer, opts.Logger)
	go newWriter(s).run()
	return s, nil
}

func newClient(opts Options) (redis.UniversalClient, error) {
	if opts.Cluster {
		o, err := redis.ParseClusterURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("store: redis cluster URL: %w", err)
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("store: redis URL: %w", err)
	}
	return redis.NewClient(o), nil
}

// Ready reports whether the store can write, for /readyz: a Redis Cluster
// must report cluster_state:ok (all slots served), and a write of a small
// probe key must succeed. A PING alone passes on a replica (READONLY to
// writes) and on a cluster node reached without cluster mode (MOVED for
// most keys); the error names which.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.open("ready"); err != nil {
		return err
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		info, err := cc.ClusterInfo(ctx).Result()
		if err != nil {
			return fail("ready", err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fail("ready", errors.New("cluster_state is not ok: some hash slots have no master (a failover may be under way)"))
		}
	} else {
		info, err := s.rdb.Info(ctx, "cluster").Result()
		if err != nil {
			return fail("ready", err)
		}
		if strings.Contains(info, "cluster_enabled:1") {
			return fail("ready", errors.New("this Redis is a Redis Cluster node, which answers MOVED for most keys: set --redis-mode=cluster"))
		}
	}
	err := s.rdb.Set(ctx, s.opts.Prefix+"ready", s.opts.Now().UnixMilli(), time.Minute).Err()
	switch {
	case err == nil:
		return nil
	case redis.HasErrorPrefix(err, "MOVED"):
		err = fmt.Errorf("%w (this Redis is part of a Redis Cluster: set --redis-mode=cluster)", err)
	case redis.HasErrorPrefix(err, "READONLY"):
		err = fmt.Errorf("%w (this Redis is a read-only replica: point at the master, or use --redis-mode=sentinel)", err)
	}
	return fail("ready", err)
}

// Close stops accepting appends, finishes those already queued and, if
// the store made its client, closes it. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		s.mu.Unlock()
		<-s.done
		if s.owned {
			if err := s.rdb.Close(); err != nil {
				s.closeErr = fmt.Errorf("store: close: %w", err)
			}
		}
	})
	return s.closeErr
}

// open returns ErrClosed once the store is closed.
func (s *Store) open(op string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("store: %s: %w", op, notify.ErrClosed)
	}
	return nil
}

// fail wraps a Redis error: the caller's own cancellation as is, anything
// else (no connection, a timeout, an error reply) as ErrUnavailable, so
// that nothing is acknowledged that may not be stored.
func fail(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return fmt.Errorf("store: %s: %w", op, &notify.UnavailableError{Dependency: "redis", Err: err})
}

// micros is t in Unix microseconds, the unit of the scripts' times.
func micros(t time.Time) int64 { return t.UnixMicro() }

// expiry is n's expiry in Unix microseconds rounded up (0: none), so that
// an entry is live in the scripts exactly while n.Expired is false.
func expiry(n *notify.Notification) int64 {
	if n.ExpireTime.IsZero() {
		return 0
	}
	us := n.ExpireTime.UnixMicro()
	if n.ExpireTime.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

func (s *Store) cutoff(now time.Time) int64 { return micros(now.Add(-s.opts.RetentionAge)) }

// Last implements store.Store: the newest cursor, kept even when every
// entry was trimmed, so that cursors never repeat.
func (s *Store) Last(ctx context.Context, user notify.UserID) (notify.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: last %s: %w", user, err)
	}
	if err := s.open("last " + string(user)); err != nil {
		return 0, err
	}
	k := s.userKeys(user)
	v, err := lastScript.Run(ctx, s.rdb, []string{k.meta, k.entries}).Uint64()
	if err != nil {
		return 0, fail("last "+string(user), err)
	}
	return notify.Cursor(v), nil
}

// Read implements store.Store. A limit of zero or less means
// DefaultReadLimit. Expired notifications are skipped without counting
// toward the limit, so a short page means the end of the inbox.
func (s *Store) Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	op := "read " + string(user)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	k := s.userKeys(user)
	now := s.opts.Now()
	vals, err := readScript.Run(ctx, s.rdb, k.inbox(),
		uint64(after), limit, micros(now), s.cutoff(now), s.opts.RetentionCount).Slice()
	if err != nil {
		return nil, fail(op, err)
	}
	if len(vals) < 3 {
		return nil, fmt.Errorf("store: %s: reply of %d values", op, len(vals))
	}
	if ok, _ := vals[0].(int64); ok == 0 {
		return nil, fmt.Errorf("store: %s after %d (retained %v..%v): %w", op, after, vals[2], vals[1], notify.ErrCursorExpired)
	}
	out := make([]notify.Entry, 0, (len(vals)-3)/2)
	for i := 3; i+1 < len(vals); i += 2 {
		c, _ := vals[i].(int64)
		v, _ := vals[i+1].(string)
		topic, n, err := decodeEntry([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("store: %s: entry %d: %w", op, c, err)
		}
		out = append(out, notify.Entry{User: user, Cursor: notify.Cursor(c), Topic: topic, Notification: n})
	}
	return out, nil
}
