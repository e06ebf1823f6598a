package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
)

// Helpers of the live channel tests (channels_*_test.go): tokens with a
// channels claim, publishing to channels, and one reader over SSE and the
// gRPC stream alike, so that each test runs on both transports.

// inboxSource names the inbox among a stream's sources.
const inboxSource = "inbox"

// channelToken mints a token for user whose channels claim is patterns.
func channelToken(t testing.TB, user string, patterns ...string) string {
	t.Helper()
	tok, err := auth.Token{User: user, TTL: time.Hour, Channels: patterns}.SignHS256([]byte(testSecret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// publish sends one notification titled title to users and channels
// through gRPC Notify.
func publish(ctx context.Context, nc heraldv1.NotifyServiceClient, title string, users, channels []string) error {
	_, err := nc.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
		Audience: &heraldv1.Audience{UserIds: users, Channels: channels},
		Type:     "chat.message",
		Title:    title,
	}})
	if err != nil {
		return fmt.Errorf("notify %q: %w", title, err)
	}
	return nil
}

// publishTo sends the notification numbered n of source: to user for the
// inbox, else to the channel source. Its title is seqTitle(source, n).
func publishTo(ctx context.Context, nc heraldv1.NotifyServiceClient, user, source string, n int) error {
	if source == inboxSource {
		return publish(ctx, nc, seqTitle(source, n), []string{user}, nil)
	}
	return publish(ctx, nc, seqTitle(source, n), nil, []string{source})
}

// seqTitle is the title of the n-th notification of source.
func seqTitle(source string, n int) string { return source + " #" + strconv.Itoa(n) }

// chanEvent is one message of a stream with channels, from either
// transport: a notification of one source, or a reset of one.
type chanEvent struct {
	Reset bool
	// Source is the channel of the event or reset, or inboxSource.
	Source string
	Title  string
	// Cursor is the stream's cursor after the message: the SSE id, the
	// gRPC event's or reset's cursor.
	Cursor string
}

// chanReader reads a stream's notifications and resets, skipping read
// events and heartbeats.
type chanReader interface {
	next(d time.Duration) (chanEvent, error)
	close()
}

// chanOpener opens a stream of the inbox and channels from cursor (empty:
// live only) and returns once the server says it is live.
type chanOpener func(t *testing.T, channels []string, cursor string) chanReader

// streamPath is GET /v1/stream with channels, and extra query parameters.
func streamPath(channels []string, extra ...string) string {
	q := []string{"channels=" + url.QueryEscape(strings.Join(channels, ","))}
	return "/v1/stream?" + strings.Join(append(q, extra...), "&")
}

// sseOpener opens SSE streams on s with tok.
func sseOpener(s *server, tok string) chanOpener {
	return func(t *testing.T, channels []string, cursor string) chanReader {
		t.Helper()
		h := map[string]string{"Authorization": "Bearer " + tok}
		if cursor != "" {
			h["Last-Event-ID"] = cursor
		}
		st := openStream(t, s.HTTPAddr, streamPath(channels), h)
		if st.resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
			t.Fatalf("stream of %v: status %d: %s", channels, st.resp.StatusCode, b)
		}
		return sseReader{st}
	}
}

type sseReader struct{ st *rawStream }

func (r sseReader) close() { r.st.Close() }

func (r sseReader) next(d time.Duration) (chanEvent, error) {
	deadline := time.Now().Add(d)
	for range 1000 {
		ev, err := r.st.Next(time.Until(deadline))
		if err != nil {
			return chanEvent{}, err
		}
		switch ev.Event {
		case "read":
			continue
		case "reset":
			var p struct{ Reason, Cursor, Channel string }
			if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
				return chanEvent{}, fmt.Errorf("reset data %q: %w", ev.Data, err)
			}
			if p.Reason != "cursor_expired" || p.Cursor != ev.ID {
				return chanEvent{}, fmt.Errorf("reset %q with id %q, want reason cursor_expired and the id as cursor", ev.Data, ev.ID)
			}
			return chanEvent{Reset: true, Source: sourceOf(p.Channel), Cursor: p.Cursor}, nil
		case "shutdown", "token-expired":
			return chanEvent{}, fmt.Errorf("stream ended by %s", ev.Event)
		}
		var p struct{ Title, Channel string }
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			return chanEvent{}, fmt.Errorf("event data %q: %w", ev.Data, err)
		}
		if !ev.HasID {
			return chanEvent{}, fmt.Errorf("event %q has no id", ev.Data)
		}
		return chanEvent{Source: sourceOf(p.Channel), Title: p.Title, Cursor: ev.ID}, nil
	}
	return chanEvent{}, errors.New("too many read events")
}

// sourceOf is the source of a channel field: the channel, or the inbox
// when empty.
func sourceOf(channel string) string {
	if channel == "" {
		return inboxSource
	}
	return channel
}

// grpcOpener opens InboxService.Stream on s with tok.
func grpcOpener(s *server, tok string) chanOpener {
	return func(t *testing.T, channels []string, cursor string) chanReader {
		t.Helper()
		st, cancel, err := grpcChanStream(t, s, tok, channels, cursor)
		if err != nil {
			t.Fatalf("gRPC stream of %v: %v", channels, err)
		}
		return newGRPCReader(st, cancel)
	}
}

// grpcChanStream opens s's InboxService.Stream with tok for channels
// (see openGRPCStream).
func grpcChanStream(t *testing.T, s *server, tok string, channels []string, cursor string) (grpc.ServerStreamingClient[heraldv1.StreamResponse], context.CancelFunc, error) {
	t.Helper()
	return openGRPCStream(t, s.inboxClient(t), tok, &heraldv1.StreamRequest{Cursor: cursor, Channels: channels})
}

// grpcReader pumps a gRPC stream into a channel, so that next can wait
// with a deadline.
type grpcReader struct {
	msgs   chan *heraldv1.StreamResponse
	err    chan error
	cancel context.CancelFunc
}

func newGRPCReader(st grpc.ServerStreamingClient[heraldv1.StreamResponse], cancel context.CancelFunc) *grpcReader {
	r := &grpcReader{msgs: make(chan *heraldv1.StreamResponse), err: make(chan error, 1), cancel: cancel}
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				r.err <- err
				return
			}
			select {
			case r.msgs <- m:
			case <-st.Context().Done():
				r.err <- st.Context().Err()
				return
			}
		}
	}()
	return r
}

func (r *grpcReader) close() { r.cancel() }

func (r *grpcReader) next(d time.Duration) (chanEvent, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for range 1000 {
		select {
		case m := <-r.msgs:
			switch {
			case m.GetEvent() != nil:
				ev := m.GetEvent()
				return chanEvent{Source: sourceOf(ev.GetChannel()), Title: ev.GetTitle(), Cursor: ev.GetCursor()}, nil
			case m.GetReset_() != nil:
				rs := m.GetReset_()
				return chanEvent{Reset: true, Source: sourceOf(rs.GetChannel()), Cursor: rs.GetCursor()}, nil
			}
		case err := <-r.err:
			r.err <- err
			return chanEvent{}, err
		case <-timer.C:
			return chanEvent{}, fmt.Errorf("no message within %v", d)
		}
	}
	return chanEvent{}, errors.New("too many read events")
}

// transports are the two ways to stream: raw-HTTP SSE and the gRPC stream.
var transports = map[string]func(s *server, tok string) chanOpener{"sse": sseOpener, "grpc": grpcOpener}

// sequences checks that each source's notifications come numbered 1, 2, …
// (seqTitle) with no gap and no repeat.
type sequences map[string]int

// take checks ev, a notification, against its source's last number.
func (q sequences) take(ev chanEvent) error {
	if ev.Reset {
		return fmt.Errorf("unexpected reset of %s (cursor %s)", ev.Source, ev.Cursor)
	}
	src, num, ok := strings.Cut(ev.Title, " #")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return fmt.Errorf("%s event titled %q, want a numbered one", ev.Source, ev.Title)
	}
	if src != ev.Source {
		return fmt.Errorf("event %q arrived as one of %s", ev.Title, ev.Source)
	}
	if n != q[src]+1 {
		return fmt.Errorf("%s: #%d after #%d (gap or duplicate)", src, n, q[src])
	}
	q[src] = n
	return nil
}
