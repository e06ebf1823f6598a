package ticket

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/notify"
)

// DefaultTimeout bounds each Redis call when RedisOptions.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// RedisOptions configure Redis.
type RedisOptions struct {
	Options
	// Prefix starts every key: the deployment's --redis-prefix.
	Prefix string
	// Timeout bounds each call's wait for Redis (default DefaultTimeout).
	Timeout time.Duration
}

// Redis keeps tickets in Redis, so that a ticket issued by one node opens a
// stream on any node of the cluster: one key per ticket,
// <prefix>ticket:<hex SHA-256 of the ticket>, written with SET PX (Redis
// drops it at expiry, by its own clock) and taken with GETDEL, so that two
// nodes redeeming the same ticket at once cannot both succeed. One key per
// command works alike on a single Redis, Sentinel and Cluster. GETDEL needs
// Redis 6.2 or later.
type Redis struct {
	rdb   redis.UniversalClient
	o     RedisOptions
	bound *bound.Bound // of o.Timeout
}

// NewRedis returns tickets kept in the Redis of rdb.
func NewRedis(rdb redis.UniversalClient, o RedisOptions) *Redis {
	o.setDefaults()
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Redis{rdb: rdb, o: o, bound: bound.New(o.Timeout)}
}

// stored is a ticket's value in Redis.
type stored struct {
	User     string   `json:"u"`
	Expiry   int64    `json:"e,omitempty"` // the token's, in Unix milliseconds
	Channels []string `json:"c,omitempty"`
}

func (r *Redis) key(h [32]byte) string { return r.o.Prefix + "ticket:" + hex.EncodeToString(h[:]) }

// Issue returns a new ticket for c and how long it lives.
func (r *Redis) Issue(ctx context.Context, c auth.Claims) (string, time.Duration, error) {
	ttl, err := r.o.lifetime(c, r.o.Now())
	if err != nil {
		return "", 0, err
	}
	v := stored{User: string(c.User), Channels: c.Channels}
	if !c.Expiry.IsZero() {
		v.Expiry = c.Expiry.UnixMilli()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", 0, fmt.Errorf("ticket: encode: %w", err)
	}
	t, h := newTicket()
	_, err = bound.Call(ctx, r.bound, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.rdb.SetArgs(ctx, r.key(h), b, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	})
	if err != nil {
		return "", 0, fmt.Errorf("ticket: store in redis: %w", err)
	}
	return t, ttl, nil
}

// Redeem returns the claims of ticket t and removes it; ok is false when t
// is unknown, used or expired.
func (r *Redis) Redeem(ctx context.Context, t string) (auth.Claims, bool, error) {
	h, ok := hashOf(t)
	if !ok {
		return auth.Claims{}, false, nil
	}
	b, err := bound.Call(ctx, r.bound, func(ctx context.Context) ([]byte, error) {
		return r.rdb.GetDel(ctx, r.key(h)).Bytes()
	})
	if errors.Is(err, redis.Nil) {
		return auth.Claims{}, false, nil
	}
	if err != nil {
		return auth.Claims{}, false, fmt.Errorf("ticket: redeem in redis: %w", err)
	}
	var v stored
	if err := json.Unmarshal(b, &v); err != nil {
		return auth.Claims{}, false, fmt.Errorf("ticket: decode: %w", err)
	}
	c := auth.Claims{User: notify.UserID(v.User), Channels: v.Channels}
	if v.Expiry != 0 {
		c.Expiry = time.UnixMilli(v.Expiry)
	}
	return c, true, nil
}
