package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/presence"
	"github.com/heraldhq/herald/internal/rpc"
)

// fakePresence answers from a fixed table, or with err.
type fakePresence struct {
	states map[notify.UserID]presence.State
	err    error
	asked  []notify.UserID
}

func (f *fakePresence) Presence(_ context.Context, users []notify.UserID) ([]presence.State, error) {
	f.asked = users
	if f.err != nil {
		return nil, f.err
	}
	out := make([]presence.State, len(users))
	for i, u := range users {
		st := f.states[u]
		st.User = u
		out[i] = st
	}
	return out, nil
}

func TestGetPresence(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	seen := now.Add(-time.Hour)
	p := &fakePresence{states: map[notify.UserID]presence.State{
		"alice": {Online: true, LastSeen: seen},
		"bob":   {LastSeen: seen},
	}}
	s := rpc.NewPresenceServer(p, func() time.Time { return now }, nil)
	resp, err := s.GetPresence(asService(), &heraldv1.GetPresenceRequest{UserIds: []string{"alice", "bob", "carol", "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.asked, []notify.UserID{"alice", "bob", "carol"}) {
		t.Errorf("asked for %q, want each user once in order", p.asked)
	}
	var got []string
	for _, u := range resp.GetUsers() {
		ts := "absent"
		if u.LastSeenTime != nil {
			ts = u.GetLastSeenTime().AsTime().Format(time.RFC3339)
		}
		got = append(got, fmt.Sprintf("%s online=%t last_seen=%s", u.GetUserId(), u.GetOnline(), ts))
	}
	want := []string{
		"alice online=true last_seen=" + now.Format(time.RFC3339),
		"bob online=false last_seen=" + seen.Format(time.RFC3339),
		"carol online=false last_seen=absent",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestGetPresenceValidation(t *testing.T) {
	t.Parallel()
	s := rpc.NewPresenceServer(&fakePresence{}, nil, nil)
	tests := []struct {
		name   string
		users  []string
		code   codes.Code
		fields []string
	}{
		{"max users", seq("u", 100), codes.OK, nil},
		{"none", nil, codes.InvalidArgument, []string{"user_ids"}},
		{"too many", seq("u", 101), codes.InvalidArgument, []string{"user_ids"}},
		{"bad IDs", []string{"ok", "", "a\nb", strings.Repeat("x", notify.MaxUserIDLen+1)}, codes.InvalidArgument,
			[]string{"user_ids[1]", "user_ids[2]", "user_ids[3]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.GetPresence(asService(), &heraldv1.GetPresenceRequest{UserIds: tt.users})
			if status.Code(err) != tt.code {
				t.Fatalf("err = %v, want %v", err, tt.code)
			}
			if got := fields(err); !slices.Equal(got, tt.fields) {
				t.Errorf("field violations = %q, want %q", got, tt.fields)
			}
		})
	}
}

func TestGetPresenceUnavailable(t *testing.T) {
	t.Parallel()
	down := &notify.UnavailableError{Dependency: "redis", Err: fmt.Errorf("dial tcp 10.0.0.7:6379: refused")}
	s := rpc.NewPresenceServer(&fakePresence{err: down}, nil, nil)
	_, err := s.GetPresence(asService(), &heraldv1.GetPresenceRequest{UserIds: []string{"alice"}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want UNAVAILABLE", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "redis") || strings.Contains(msg, "10.0.0.7") {
		t.Errorf("message %q: want the dependency named, never its address", msg)
	}
}

func TestGetPresenceRequiresService(t *testing.T) {
	t.Parallel()
	s := rpc.NewPresenceServer(&fakePresence{}, nil, nil)
	_, err := s.GetPresence(context.Background(), &heraldv1.GetPresenceRequest{UserIds: []string{"alice"}})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v, want UNAUTHENTICATED", err)
	}
}
