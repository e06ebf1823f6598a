package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/testenv"
)

// asUser adds user's token to ctx for InboxService calls.
func asUser(t testing.TB, ctx context.Context, user string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token(t, user))
}

// grpcStream opens InboxService.Stream for user from cursor and returns once
// the server says it is live (the headers).
func grpcStream(t *testing.T, c heraldv1.InboxServiceClient, user, cursor string) (grpc.ServerStreamingClient[heraldv1.StreamResponse], context.CancelFunc) {
	t.Helper()
	st, cancel, err := openGRPCStream(t, c, token(t, user), &heraldv1.StreamRequest{Cursor: cursor})
	if err != nil {
		t.Fatalf("open gRPC stream for %s: %v", user, err)
	}
	return st, cancel
}

// openGRPCStream opens InboxService.Stream with tok and waits for its
// headers, which the server sends once the stream is live; a refused
// stream's status is the error.
func openGRPCStream(t *testing.T, c heraldv1.InboxServiceClient, tok string, req *heraldv1.StreamRequest) (grpc.ServerStreamingClient[heraldv1.StreamResponse], context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	st, err := c.Stream(ctx, req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	// Header is nil, with no error, for a stream that ended without
	// headers: a refused one, whose status the first Recv returns.
	if md, _ := st.Header(); md == nil {
		_, err := st.Recv()
		cancel()
		if err == nil {
			err = errors.New("stream sent a message without headers")
		}
		return nil, nil, err
	}
	return st, cancel, nil
}

// recvEvent returns the next notification of a gRPC stream.
func recvEvent(t *testing.T, st grpc.ServerStreamingClient[heraldv1.StreamResponse]) *heraldv1.Event {
	t.Helper()
	m, err := st.Recv()
	if err != nil {
		t.Fatalf("stream recv: %v", err)
	}
	if m.GetEvent() == nil {
		t.Fatalf("got %v, want a notification", m)
	}
	return m.GetEvent()
}

// A mark-read on one device reaches the user's other streams, SSE and gRPC
// alike, as a read event carrying the new counts.
func TestReadStateSyncsAcrossDevices(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	laptop := s.streamFor(t, "alice", "")
	phone := s.streamFor(t, "alice", "")
	tablet, _ := grpcStream(t, s.inboxClient(t), "alice", "")
	other := s.streamFor(t, "bob", "")

	nc := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var ids []string
	for i := range 3 {
		r, err := notifyUser(ctx, nc, "alice", fmt.Sprintf("n%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GetId())
	}
	for _, st := range []*rawStream{laptop, phone} {
		for range 3 {
			if _, _, err := st.NextNotification(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 3 {
		recvEvent(t, tablet)
	}

	var mark struct {
		Changed int `json:"changed"`
		Counts  struct {
			Unread int `json:"unread"`
			Unseen int `json:"unseen"`
		} `json:"counts"`
	}
	if code, _ := restCall(t, s, http.MethodPost, "/v1/inbox:mark", bearerFor(t, "alice"),
		map[string]any{"action": "MARK_ACTION_READ", "ids": ids[:1]}, &mark); code != http.StatusOK {
		t.Fatalf("mark: status %d", code)
	}
	if mark.Changed != 1 || mark.Counts.Unread != 2 || mark.Counts.Unseen != 2 {
		t.Fatalf("mark response %+v, want 1 changed, 2 unread, 2 unseen", mark)
	}
	for name, st := range map[string]*rawStream{"laptop": laptop, "phone": phone} {
		ev, err := st.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev.Event != "read" || ev.HasID || ev.Data != `{"unread":2,"unseen":2}` {
			t.Errorf("%s got %+v, want a read event with the counts and no id", name, ev)
		}
	}
	m, err := tablet.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r := m.GetRead(); r == nil || r.GetUnread() != 2 || r.GetUnseen() != 2 {
		t.Errorf("gRPC stream got %v, want read counts 2/2", m)
	}
	// Bob heard nothing of it: his next event is his own notification.
	if _, err := notifyUser(ctx, nc, "bob", "for bob"); err != nil {
		t.Fatal(err)
	}
	if ev, p, err := other.NextNotification(5 * time.Second); err != nil || p.Title != "for bob" {
		t.Errorf("bob's stream: %+v %+v %v", ev, p, err)
	}
}

// A gRPC stream resumed from a cursor gets exactly what was sent while it
// was away, in order, then goes on live; grpcurl sees the same.
func TestGRPCStreamResume(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ic := s.inboxClient(t)
	nc := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	st, stop := grpcStream(t, ic, "dana", "")
	if _, err := notifyUser(ctx, nc, "dana", "before"); err != nil {
		t.Fatal(err)
	}
	cursor := recvEvent(t, st).GetCursor()
	stop()

	var want []string
	for i := range 100 {
		title := fmt.Sprintf("away-%03d", i)
		if _, err := notifyUser(ctx, nc, "dana", title); err != nil {
			t.Fatal(err)
		}
		want = append(want, title)
	}
	st, _ = grpcStream(t, ic, "dana", cursor)
	for i, title := range want {
		if ev := recvEvent(t, st); ev.GetTitle() != title {
			t.Fatalf("event %d: %q, want %q", i, ev.GetTitle(), title)
		}
	}
	// Nothing else was queued: the next event is one sent now.
	if _, err := notifyUser(ctx, nc, "dana", "live"); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, st); ev.GetTitle() != "live" {
		t.Fatalf("after the replay got %q, want live", ev.GetTitle())
	}

	grpcurl := testenv.NeedCommand(t, "grpcurl", "make tools", toolDir)
	// grpcurl prints each message and exits when -max-time ends the call.
	out, _ := exec.CommandContext(ctx, grpcurl, "-plaintext", "-max-time", "3",
		"-H", "authorization: Bearer "+token(t, "dana"),
		"-d", fmt.Sprintf(`{"cursor":%q}`, cursor),
		s.GRPCAddr, "herald.v1.InboxService/Stream").CombinedOutput()
	dec := json.NewDecoder(bytes.NewReader(out))
	var got []string
	for range 1000 {
		var m struct {
			Event struct {
				Title string `json:"title"`
			} `json:"event"`
		}
		if err := dec.Decode(&m); err != nil {
			break
		}
		got = append(got, m.Event.Title)
	}
	if len(got) != 101 || got[0] != want[0] || got[99] != want[99] || got[100] != "live" {
		t.Fatalf("grpcurl streamed %d events (%v…), want the 100 then live; output:\n%.2000s", len(got), got[:min(3, len(got))], out)
	}
}

// An expired notification is never replayed, listed or counted.
func TestExpiredNeverReplayedOrListed(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	nc := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	expiry := time.Now().Add(time.Second)
	for i, exp := range []*timestamppb.Timestamp{nil, timestamppb.New(expiry), nil} {
		_, err := nc.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
			Audience:   &heraldv1.Audience{UserIds: []string{"erin"}},
			Title:      fmt.Sprintf("n%d", i),
			ExpireTime: exp,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The expiry is a point in wall-clock time; nothing else to wait for.
	time.Sleep(time.Until(expiry) + 10*time.Millisecond)

	st := s.streamFor(t, "erin", "0")
	for _, want := range []string{"n0", "n2"} {
		if _, p, err := st.NextNotification(5 * time.Second); err != nil || p.Title != want {
			t.Fatalf("SSE replay: %+v %v, want %s", p, err, want)
		}
	}
	gs, _ := grpcStream(t, s.inboxClient(t), "erin", "0")
	for _, want := range []string{"n0", "n2"} {
		if ev := recvEvent(t, gs); ev.GetTitle() != want {
			t.Fatalf("gRPC replay: %q, want %s", ev.GetTitle(), want)
		}
	}
	list, err := s.inboxClient(t).ListInbox(asUser(t, ctx, "erin"), &heraldv1.ListInboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, e := range list.GetEntries() {
		titles = append(titles, e.GetEvent().GetTitle())
	}
	if strings.Join(titles, ",") != "n2,n0" || list.GetCounts().GetUnread() != 2 {
		t.Fatalf("listed %v with counts %v, want n2,n0 and 2 unread", titles, list.GetCounts())
	}
	// The live sentinel after the replay shows nothing else was pending.
	if _, err := notifyUser(ctx, nc, "erin", "after"); err != nil {
		t.Fatal(err)
	}
	if _, p, err := st.NextNotification(5 * time.Second); err != nil || p.Title != "after" {
		t.Fatalf("SSE after replay: %+v %v", p, err)
	}
	if ev := recvEvent(t, gs); ev.GetTitle() != "after" {
		t.Fatalf("gRPC after replay: %q", ev.GetTitle())
	}
}
