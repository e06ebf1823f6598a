package rpc_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rpc"
)

// streamLog is an in-memory inbox that publishes to a hub as it appends,
// like the store's commit hook.
type streamLog struct {
	mu      sync.Mutex
	hub     *hub.Hub
	entries map[notify.UserID][]notify.Entry
	floor   notify.Cursor // Read after a cursor below it is ErrCursorExpired
}

func (l *streamLog) append(user notify.UserID, n int) []notify.Entry {
	l.mu.Lock()
	out := make([]notify.Entry, n)
	for i := range out {
		c := notify.Cursor(len(l.entries[user]) + 1)
		out[i] = notify.Entry{User: user, Cursor: c, Notification: &notify.Notification{
			ID: fmt.Sprintf("%s-%d", user, c), Title: fmt.Sprintf("t%d", c), CreateTime: time.Unix(1, 0),
		}}
		l.entries[user] = append(l.entries[user], out[i])
	}
	l.mu.Unlock()
	l.hub.Publish(out)
	return out
}

func (l *streamLog) Read(_ context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after < l.floor {
		return nil, notify.ErrCursorExpired
	}
	var out []notify.Entry
	for _, e := range l.entries[user] {
		if e.Cursor > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *streamLog) Last(_ context.Context, user notify.UserID) (notify.Cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return notify.Cursor(len(l.entries[user])), nil
}

// startStreamServer serves InboxService.Stream on 127.0.0.1, taking the
// caller's user from the "x-test-user" metadata as a stand-in for the
// token check, with the token expiring at expiry.
func startStreamServer(t *testing.T, expiry time.Time) (heraldv1.InboxServiceClient, *streamLog, *rpc.StreamServer) {
	t.Helper()
	h := hub.New(hub.Options{})
	log := &streamLog{hub: h, entries: make(map[notify.UserID][]notify.Entry)}
	ss := rpc.NewStreamServer(rpc.StreamConfig{Store: log, Hub: h, ReplayBatch: 7})
	srv := grpc.NewServer(grpc.StreamInterceptor(func(srv any, s grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		md, _ := metadata.FromIncomingContext(s.Context())
		if u := md.Get("x-test-user"); len(u) == 1 {
			return handler(srv, &ctxStream{ServerStream: s, ctx: auth.WithClaims(s.Context(), auth.Claims{User: notify.UserID(u[0]), Expiry: expiry})})
		}
		return handler(srv, s)
	}))
	heraldv1.RegisterInboxServiceServer(srv, streamOnly{ss: ss})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		ss.Shutdown()
		srv.Stop()
		h.Close()
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return heraldv1.NewInboxServiceClient(conn), log, ss
}

// streamOnly serves Stream alone.
type streamOnly struct {
	heraldv1.UnimplementedInboxServiceServer
	ss *rpc.StreamServer
}

func (s streamOnly) Stream(req *heraldv1.StreamRequest, st grpc.ServerStreamingServer[heraldv1.StreamResponse]) error {
	return s.ss.Stream(req, st)
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// openStream opens a stream as user from cursor and waits for its headers,
// which mean it is live.
func openStream(t *testing.T, c heraldv1.InboxServiceClient, user, cursor string) grpc.ServerStreamingClient[heraldv1.StreamResponse] {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	if user != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-test-user", user)
	}
	st, err := c.Stream(ctx, &heraldv1.StreamRequest{Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatalf("stream headers: %v", err)
	}
	return st
}

func TestStreamReplayThenLive(t *testing.T) {
	t.Parallel()
	c, log, _ := startStreamServer(t, time.Time{})
	log.append("alice", 20)
	log.append("bob", 3)

	st := openStream(t, c, "alice", "5")
	log.append("alice", 10) // committed while the replay may still run
	for want := notify.Cursor(6); want <= 30; want++ {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("recv cursor %d: %v", want, err)
		}
		ev := m.GetEvent()
		if ev.GetCursor() != want.String() || ev.GetId() != fmt.Sprintf("alice-%d", want) {
			t.Fatalf("got %v, want alice's cursor %d", m, want)
		}
	}
	// A read-state change arrives in order with the rest.
	log.hub.Publish([]notify.Entry{{User: "alice", Counts: &notify.Counts{Unread: 4, Unseen: 2}}})
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r := m.GetRead(); r.GetUnread() != 4 || r.GetUnseen() != 2 {
		t.Fatalf("got %v, want a read event with counts 4/2", m)
	}
}

func TestStreamWithoutCursorIsLiveOnly(t *testing.T) {
	t.Parallel()
	c, log, _ := startStreamServer(t, time.Time{})
	log.append("alice", 5)
	st := openStream(t, c, "alice", "")
	log.append("alice", 1)
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetEvent().GetCursor() != "6" {
		t.Fatalf("got %v, want cursor 6 only", m)
	}
}

func TestStreamReset(t *testing.T) {
	t.Parallel()
	c, log, _ := startStreamServer(t, time.Time{})
	log.append("alice", 10)
	log.mu.Lock()
	log.floor = 8
	log.mu.Unlock()
	st := openStream(t, c, "alice", "3")
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetReset_().GetReason() != "cursor_expired" {
		t.Fatalf("got %v, want a reset", m)
	}
	log.append("alice", 1)
	if m, err = st.Recv(); err != nil || m.GetEvent().GetCursor() != "11" {
		t.Fatalf("after reset got %v, %v; want cursor 11", m, err)
	}
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	c, _, _ := startStreamServer(t, time.Now().Add(300*time.Millisecond))
	for _, tc := range []struct {
		name, user, cursor string
		want               codes.Code
	}{
		{"no user", "", "", codes.Unauthenticated},
		{"bad cursor", "alice", "x1", codes.InvalidArgument},
		{"negative cursor", "alice", "-1", codes.InvalidArgument},
		{"token expires", "alice", "", codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			if tc.user != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-test-user", tc.user)
			}
			st, err := c.Stream(ctx, &heraldv1.StreamRequest{Cursor: tc.cursor})
			if err == nil {
				_, err = st.Recv()
			}
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStreamShutdown(t *testing.T) {
	t.Parallel()
	c, _, ss := startStreamServer(t, time.Time{})
	st := openStream(t, c, "alice", "")
	ss.Shutdown()
	if _, err := st.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
}
