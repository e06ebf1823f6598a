package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/notify"
)

// A store failure tells the client which store is down, never where it is
// or why: the cause, which may hold an address, is only logged.
func TestToStatusNamesTheStore(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 10.0.0.5:6380: connect: connection refused")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"redis", fmt.Errorf("store: append: %w", &notify.UnavailableError{Dependency: "redis", Err: cause}),
			"inbox store (redis) temporarily unavailable; retry"},
		{"unnamed", fmt.Errorf("store: append: %w: %w", notify.ErrUnavailable, cause),
			"inbox store temporarily unavailable; retry"},
		{"closed", fmt.Errorf("store: append: %w", notify.ErrClosed), "server shutting down; retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, _ := status.FromError(toStatus(context.Background(), slog.New(slog.DiscardHandler), "Notify", tt.err))
			if st.Code() != codes.Unavailable || st.Message() != tt.want {
				t.Errorf("got %v %q, want Unavailable %q", st.Code(), st.Message(), tt.want)
			}
			if strings.Contains(st.Message(), "10.0.0.5") {
				t.Errorf("message %q shows the store's address", st.Message())
			}
		})
	}
}
