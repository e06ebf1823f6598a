package redisstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
)

// Subscriptions are two indexes, each a ZSET with every score 0, so that
// members sort by bytes and ZRANGEBYLEX pages after any value, present or
// not: the topic's subscribers ({t:topic}:subs) for routing, and the
// user's topics ({u:user}:t). The pairs of a call are written in one
// pipeline; the two indexes of a pair live in different slots, so a call
// that fails midway may leave a pair in one only, which the caller's retry
// (ZADD and ZREM are idempotent) repairs. Counts come from the topic side.

// chunk bounds the members of one command.
const chunk = 1000

// Subscribe implements store.Subscriptions.
func (s *Store) Subscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	return s.changeSubscriptions(ctx, "subscribe", topics, users, true)
}

// Unsubscribe implements store.Subscriptions.
func (s *Store) Unsubscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	return s.changeSubscriptions(ctx, "unsubscribe", topics, users, false)
}

func (s *Store) changeSubscriptions(ctx context.Context, op string, topics []notify.Topic, users []notify.UserID, add bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return 0, err
	}
	if len(topics) == 0 || len(users) == 0 {
		return 0, nil
	}
	topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	users = slices.Compact(slices.Sorted(slices.Values(users)))
	pipe := s.rdb.Pipeline()
	var counted []*redis.IntCmd
	for _, t := range topics {
		for from := 0; from < len(users); from += chunk {
			part := users[from:min(from+chunk, len(users))]
			counted = append(counted, setMembers(ctx, pipe, s.subsKey(t), part, add))
		}
	}
	for _, u := range users {
		for from := 0; from < len(topics); from += chunk {
			setMembers(ctx, pipe, s.userKeys(u).topics, topics[from:min(from+chunk, len(topics))], add)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fail(op, err)
	}
	n := 0
	for _, c := range counted {
		n += int(c.Val())
	}
	return n, nil
}

// setMembers adds (ZADD, score 0) or removes members of a ZSET.
func setMembers[S ~string](ctx context.Context, pipe redis.Pipeliner, key string, members []S, add bool) *redis.IntCmd {
	if add {
		zs := make([]redis.Z, len(members))
		for i, m := range members {
			zs[i] = redis.Z{Member: string(m)}
		}
		return pipe.ZAdd(ctx, key, zs...)
	}
	ms := make([]any, len(members))
	for i, m := range members {
		ms[i] = string(m)
	}
	return pipe.ZRem(ctx, key, ms...)
}

// UserTopics implements store.Subscriptions. A limit of zero or less means
// DefaultPageLimit; it is capped at MaxPageLimit.
func (s *Store) UserTopics(ctx context.Context, user notify.UserID, after notify.Topic, limit int) ([]notify.Topic, error) {
	vs, err := s.page(ctx, s.userKeys(user).topics, string(after), limit)
	if err != nil {
		return nil, fmt.Errorf("store: topics of %s: %w", user, err)
	}
	out := make([]notify.Topic, len(vs))
	for i, v := range vs {
		out[i] = notify.Topic(v)
	}
	return out, nil
}

// TopicSubscribers implements store.Subscriptions: a topic's users in
// ascending byte order. A limit of zero or less means DefaultPageLimit; it
// is capped at MaxPageLimit.
func (s *Store) TopicSubscribers(ctx context.Context, topic notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	vs, err := s.page(ctx, s.subsKey(topic), string(after), limit)
	if err != nil {
		return nil, fmt.Errorf("store: subscribers of %s: %w", topic, err)
	}
	out := make([]notify.UserID, len(vs))
	for i, v := range vs {
		out[i] = notify.UserID(v)
	}
	return out, nil
}

// page returns up to limit members of a score-0 ZSET after `after`.
func (s *Store) page(ctx context.Context, key, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.open("page"); err != nil {
		return nil, err
	}
	lower := "-"
	if after != "" {
		lower = "(" + after
	}
	vs, err := s.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: lower, Max: "+", Count: int64(pageLimit(limit))}).Result()
	if err != nil {
		return nil, fail("page", err)
	}
	return vs, nil
}
