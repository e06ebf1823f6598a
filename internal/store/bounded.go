package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/notify"
)

// Bounded returns s with every call bounded by timeout, so that a store
// that hangs (a Redis stopped or partitioned away, a stalled disk) turns
// calls into notify.ErrUnavailable after timeout instead of holding them
// for as long as the hang lasts. A call that timed out may still take
// effect afterwards: an Append may be stored although its caller was told
// it failed, which an idempotency key makes safe to retry. dependency
// names the store in the error ("redis", "disk").
func Bounded(s Store, timeout time.Duration, dependency string) Store {
	if timeout <= 0 {
		return s
	}
	_, inline := s.(interface{ WaitsWatchBound() })
	return &bounded{s: s, bound: bound.New(timeout), dep: dependency, inline: inline}
}

type bounded struct {
	s     Store
	bound *bound.Bound
	dep   string
	// inline: s's Append, Publish and Mark block only in waits that
	// watch bound.Expired, as the embedded store's writer queue does.
	inline bool
}

// ErrTimeout is the cause of an ErrUnavailable from a bounded call.
var ErrTimeout = bound.ErrTimeout

// call runs f bounded (see package bound) and turns the bound's expiry,
// not the caller's own end, into ErrUnavailable.
func call[T any](b *bounded, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	v, err := bound.Call(ctx, b.bound, f)
	return v, b.unavailable(err)
}

func (b *bounded) unavailable(err error) error {
	if errors.Is(err, bound.ErrTimeout) {
		return &notify.UnavailableError{Dependency: b.dep, Err: fmt.Errorf("%w; the call may still take effect", err)}
	}
	return err
}

// inline runs f, one of s's writes, bounded: in the caller's goroutine when
// s says its writes watch the bound (bound.Inline), else in one of its own.
func inline[T any](b *bounded, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	if !b.inline {
		return call(b, ctx, f)
	}
	v, err := bound.Inline(ctx, b.bound, f)
	return v, b.unavailable(err)
}

func (b *bounded) Append(ctx context.Context, ds []Delivery) ([]Result, error) {
	return inline(b, ctx, func(ctx context.Context) ([]Result, error) { return b.s.Append(ctx, ds) })
}

func (b *bounded) Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	return call(b, ctx, func(ctx context.Context) ([]notify.Entry, error) { return b.s.Read(ctx, user, after, limit) })
}

func (b *bounded) Last(ctx context.Context, user notify.UserID) (notify.Cursor, error) {
	return call(b, ctx, func(ctx context.Context) (notify.Cursor, error) { return b.s.Last(ctx, user) })
}

func (b *bounded) Subscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	return call(b, ctx, func(ctx context.Context) (int, error) { return b.s.Subscribe(ctx, topics, users) })
}

func (b *bounded) Unsubscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	return call(b, ctx, func(ctx context.Context) (int, error) { return b.s.Unsubscribe(ctx, topics, users) })
}

func (b *bounded) UserTopics(ctx context.Context, user notify.UserID, after notify.Topic, limit int) ([]notify.Topic, error) {
	return call(b, ctx, func(ctx context.Context) ([]notify.Topic, error) { return b.s.UserTopics(ctx, user, after, limit) })
}

func (b *bounded) TopicSubscribers(ctx context.Context, topic notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	return call(b, ctx, func(ctx context.Context) ([]notify.UserID, error) {
		return b.s.TopicSubscribers(ctx, topic, after, limit)
	})
}

func (b *bounded) UserPreferences(ctx context.Context, user notify.UserID) (UserPreferences, error) {
	return call(b, ctx, func(ctx context.Context) (UserPreferences, error) { return b.s.UserPreferences(ctx, user) })
}

func (b *bounded) UpdatePreferences(ctx context.Context, user notify.UserID, change PreferenceChange) (UserPreferences, error) {
	return call(b, ctx, func(ctx context.Context) (UserPreferences, error) {
		return b.s.UpdatePreferences(ctx, user, change)
	})
}

func (b *bounded) PreferencesOf(ctx context.Context, users []notify.UserID) ([]UserPreferences, error) {
	return call(b, ctx, func(ctx context.Context) ([]UserPreferences, error) { return b.s.PreferencesOf(ctx, users) })
}

func (b *bounded) List(ctx context.Context, user notify.UserID, q ListQuery) (InboxPage, error) {
	return call(b, ctx, func(ctx context.Context) (InboxPage, error) { return b.s.List(ctx, user, q) })
}

func (b *bounded) Mark(ctx context.Context, user notify.UserID, m Mark) (int, notify.Counts, error) {
	type marked struct {
		n int
		c notify.Counts
	}
	r, err := inline(b, ctx, func(ctx context.Context) (marked, error) {
		n, c, err := b.s.Mark(ctx, user, m)
		return marked{n, c}, err
	})
	return r.n, r.c, err
}

func (b *bounded) Counts(ctx context.Context, user notify.UserID) (notify.Counts, error) {
	return call(b, ctx, func(ctx context.Context) (notify.Counts, error) { return b.s.Counts(ctx, user) })
}

func (b *bounded) Publish(ctx context.Context, n *notify.Notification, channels []notify.Channel) ([]notify.Cursor, error) {
	return inline(b, ctx, func(ctx context.Context) ([]notify.Cursor, error) { return b.s.Publish(ctx, n, channels) })
}

func (b *bounded) ChannelHistory(ctx context.Context, ch notify.Channel, limit int) ([]notify.Entry, error) {
	return call(b, ctx, func(ctx context.Context) ([]notify.Entry, error) { return b.s.ChannelHistory(ctx, ch, limit) })
}

func (b *bounded) ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error) {
	return call(b, ctx, func(ctx context.Context) ([]notify.Entry, error) { return b.s.ChannelRead(ctx, ch, after, limit) })
}

func (b *bounded) ChannelLast(ctx context.Context, ch notify.Channel) (notify.Cursor, error) {
	return call(b, ctx, func(ctx context.Context) (notify.Cursor, error) { return b.s.ChannelLast(ctx, ch) })
}

// Ready forwards to the store's own readiness check, bounded too.
func (b *bounded) Ready(ctx context.Context) error {
	r, ok := b.s.(interface{ Ready(context.Context) error })
	if !ok {
		return nil
	}
	_, err := call(b, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, r.Ready(ctx) })
	return err
}

func (b *bounded) Close() error { return b.s.Close() }
