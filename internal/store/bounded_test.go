package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// hanging is a store whose calls block until release is closed, whatever
// their context says, as a client stuck in a socket read does; only Last
// answers at once.
type hanging struct {
	store.Store
	release chan struct{}
}

func (h hanging) Append(context.Context, []store.Delivery) ([]store.Result, error) {
	<-h.release
	return []store.Result{{ID: "late"}}, nil
}

func (h hanging) Read(ctx context.Context, _ notify.UserID, _ notify.Cursor, _ int) ([]notify.Entry, error) {
	<-ctx.Done() // this one looks at its context
	return nil, ctx.Err()
}

func (h hanging) Last(context.Context, notify.UserID) (notify.Cursor, error) { return 7, nil }

func (h hanging) Ready(context.Context) error {
	<-h.release
	return nil
}

func TestBounded(t *testing.T) {
	t.Parallel()
	h := hanging{release: make(chan struct{})}
	defer close(h.release)
	s := store.Bounded(h, 20*time.Millisecond, "redis")

	tests := []struct {
		name string
		call func(context.Context) error
	}{
		{"a call that ignores its context", func(ctx context.Context) error { _, err := s.Append(ctx, nil); return err }},
		{"a call that ends with its context", func(ctx context.Context) error { _, err := s.Read(ctx, "u", 0, 1); return err }},
		{"readiness", func(ctx context.Context) error { return s.(interface{ Ready(context.Context) error }).Ready(ctx) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t.Context())
			if !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, store.ErrTimeout) {
				t.Fatalf("error = %v, want ErrUnavailable from ErrTimeout", err)
			}
			var ue *notify.UnavailableError
			if !errors.As(err, &ue) || ue.Dependency != "redis" {
				t.Errorf("error = %v, want it to name redis", err)
			}
			// The caller's own end stays the caller's: not a store fault.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := tc.call(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, notify.ErrUnavailable) {
				t.Errorf("with the caller's context canceled: error = %v, want context.Canceled", err)
			}
		})
	}

	if c, err := s.Last(t.Context(), "u"); c != 7 || err != nil {
		t.Errorf("Last = %d, %v; want the store's answer, 7", c, err)
	}
	if store.Bounded(h, 0, "redis") != store.Store(h) {
		t.Error("Bounded with no timeout should return the store as is")
	}
}

func (h hanging) Publish(context.Context, *notify.Notification, []notify.Channel) ([]notify.Cursor, error) {
	<-h.release
	return []notify.Cursor{1}, nil
}

// TestBoundedChannels: the channel calls are bounded like the others.
func TestBoundedChannels(t *testing.T) {
	t.Parallel()
	h := hanging{release: make(chan struct{})}
	defer close(h.release)
	s := store.Bounded(h, 20*time.Millisecond, "redis")
	_, err := s.Publish(t.Context(), &notify.Notification{ID: "n"}, []notify.Channel{"rooms/a"})
	if !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, store.ErrTimeout) {
		t.Fatalf("Publish error = %v, want ErrUnavailable from ErrTimeout", err)
	}
}

// watching is a store whose writes wait only on bound.Expired and their
// context, as the embedded store's writer queue does.
type watching struct {
	hanging
	sawBound bool
}

func (*watching) WaitsWatchBound() {}

func (w *watching) Append(ctx context.Context, _ []store.Delivery) ([]store.Result, error) {
	w.sawBound = bound.Expired(ctx) != nil
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-bound.Expired(ctx):
		return nil, bound.Timeout(ctx)
	}
}

// TestBoundedInline: a store whose writes watch the bound gets it through
// its context and answers by it, with the same error as the others.
func TestBoundedInline(t *testing.T) {
	t.Parallel()
	w := &watching{hanging: hanging{release: make(chan struct{})}}
	defer close(w.release)
	s := store.Bounded(w, 20*time.Millisecond, "disk")
	_, err := s.Append(t.Context(), nil)
	if !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, store.ErrTimeout) {
		t.Fatalf("Append error = %v, want ErrUnavailable from ErrTimeout", err)
	}
	if !w.sawBound {
		t.Error("Append ran without the bound in its context")
	}
	var ue *notify.UnavailableError
	if !errors.As(err, &ue) || ue.Dependency != "disk" {
		t.Errorf("error = %v, want it to name disk", err)
	}
}
