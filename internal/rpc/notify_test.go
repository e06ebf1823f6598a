package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/rpc"
	"github.com/heraldhq/herald/internal/store"
)

// titleAppender fails as the first notification's title says, and otherwise
// stores everything, echoing the scoped idempotency key as the ID when
// there is one.
type titleAppender struct{}

func (titleAppender) Append(_ context.Context, ds []store.Delivery) ([]store.Result, error) {
	switch ds[0].Notification.Title {
	case "unavailable":
		return nil, fmt.Errorf("store: %w", notify.ErrUnavailable)
	case "closed":
		return nil, fmt.Errorf("store: %w", notify.ErrClosed)
	case "deadline":
		return nil, fmt.Errorf("store: %w", context.DeadlineExceeded)
	case "canceled":
		return nil, fmt.Errorf("store: %w", context.Canceled)
	case "boom":
		return nil, errors.New("pebble: corruption in /var/lib/secret")
	}
	out := make([]store.Result, len(ds))
	for i, d := range ds {
		id := d.Notification.ID
		if k := d.Notification.IdempotencyKey; k != "" {
			id = strings.ReplaceAll(k, "\x00", "/")
		}
		out[i] = store.Result{ID: id, Recipients: len(d.Recipients), Duplicate: d.Notification.Title == "dup"}
		if d.Notification.Title == "conflict" {
			out[i] = store.Result{ID: "n-first", Recipients: 1, Conflict: true}
		}
	}
	return out, nil
}

// Publish fails for the title "channels down" and otherwise stores
// nothing.
func (titleAppender) Publish(_ context.Context, n *notify.Notification, cs []notify.Channel) ([]notify.Cursor, error) {
	if n.Title == "channels down" {
		return nil, fmt.Errorf("store: publish: %w", notify.ErrUnavailable)
	}
	return make([]notify.Cursor, len(cs)), nil
}

const apiKey = "hk_rpc-test"

// serve starts a NotifyService on 127.0.0.1 and returns a client for it.
// With withAuth false the server lacks the auth interceptor.
func serve(t *testing.T, withAuth bool) heraldv1.NotifyServiceClient {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	svc := ingest.New(router.New(nil), titleAppender{}, ingest.Options{})
	var opts []grpc.ServerOption
	if withAuth {
		keys, err := auth.ParseAPIKeys([]string{"billing=" + auth.HashAPIKey(apiKey)})
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.UnaryInterceptor(rpc.NewAuth(auth.Policy{Keys: keys, Log: log}).Unary()))
	}
	srv := grpc.NewServer(opts...)
	heraldv1.RegisterNotifyServiceServer(srv, rpc.NewNotifyServer(svc, log))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		<-done
	})
	return heraldv1.NewNotifyServiceClient(cc)
}

func authed() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-api-key", apiKey)
}

func note(title string) *heraldv1.Notification {
	return &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice", "bob"}}, Title: title}
}

// toChannels is note with channels beside the users, which are not
// recipients.
func toChannels(title string, channels ...string) *heraldv1.Notification {
	n := note(title)
	n.Audience.Channels = channels
	return n
}

func TestNotify(t *testing.T) {
	t.Parallel()
	c := serve(t, true)
	tests := []struct {
		name     string
		n        *heraldv1.Notification
		code     codes.Code
		message  string   // substring of the status message
		fields   []string // BadRequest field violations
		noDetail string   // must not appear in the message
	}{
		{"ok", note("Hi"), codes.OK, "", nil, ""},
		{"invalid", &heraldv1.Notification{Type: "bad type"}, codes.InvalidArgument, "notification.audience",
			[]string{"notification.audience", "notification.type", "notification.title"}, ""},
		{"nil notification", nil, codes.InvalidArgument, "notification", []string{"notification"}, ""},
		{"channels", toChannels("Hi", "rooms/dev", "scores/m-42"), codes.OK, "", nil, ""},
		{"bad channel", toChannels("Hi", "rooms/dev", "rooms dev"), codes.InvalidArgument, "notification.audience.channels[1]",
			[]string{"notification.audience.channels[1]"}, ""},
		{"channels unavailable", toChannels("channels down", "rooms/dev"), codes.Unavailable, "temporarily unavailable", nil, "publish"},
		{"unavailable", note("unavailable"), codes.Unavailable, "inbox store temporarily unavailable", nil, "store:"},
		{"closed", note("closed"), codes.Unavailable, "server shutting down", nil, "store:"},
		{"deadline", note("deadline"), codes.DeadlineExceeded, "", nil, "store"},
		{"canceled", note("canceled"), codes.Canceled, "", nil, "store"},
		{"internal", note("boom"), codes.Internal, "internal error", nil, "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.Notify(authed(), &heraldv1.NotifyRequest{Notification: tt.n})
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("Notify = %v, %v; want code %v", resp, err, tt.code)
			}
			if tt.code == codes.OK {
				if resp.GetId() == "" || resp.GetRecipients() != 2 || resp.GetDuplicate() {
					t.Errorf("response = %v", resp)
				}
				return
			}
			if !strings.Contains(st.Message(), tt.message) {
				t.Errorf("message = %q, want it to contain %q", st.Message(), tt.message)
			}
			if tt.noDetail != "" && strings.Contains(st.Message(), tt.noDetail) {
				t.Errorf("message = %q leaks %q", st.Message(), tt.noDetail)
			}
			if got := violations(st); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("field violations = %q, want %q", got, tt.fields)
			}
		})
	}
}

func violations(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetDescription() == "" {
					fields = append(fields, "(no description)")
				}
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestNotifyBatch(t *testing.T) {
	t.Parallel()
	c := serve(t, true)
	idem := note("dup")
	idem.IdempotencyKey = "k1"
	resp, err := c.NotifyBatch(authed(), &heraldv1.NotifyBatchRequest{Notifications: []*heraldv1.Notification{note("a"), idem}})
	if err != nil {
		t.Fatalf("NotifyBatch: %v", err)
	}
	rs := resp.GetResults()
	if len(rs) != 2 || rs[0].GetId() == "" || rs[0].GetRecipients() != 2 {
		t.Fatalf("results = %v", rs)
	}
	// The key reached the store scoped to the authenticated service.
	if rs[1].GetId() != "billing/k1" || !rs[1].GetDuplicate() {
		t.Errorf("second result = %v, want ID billing/k1, duplicate", rs[1])
	}

	_, err = c.NotifyBatch(authed(), &heraldv1.NotifyBatchRequest{Notifications: []*heraldv1.Notification{note("a"), note("")}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || strings.Join(violations(st), ",") != "notifications[1].title" {
		t.Errorf("invalid batch: %v, violations %q", err, violations(st))
	}
}

func TestNotifyAuth(t *testing.T) {
	t.Parallel()
	_, err := serve(t, true).Notify(context.Background(), &heraldv1.NotifyRequest{Notification: note("Hi")})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("without key: err = %v, want Unauthenticated", err)
	}
	// A server wired without the interceptor refuses rather than opening up.
	_, err = serve(t, false).Notify(authed(), &heraldv1.NotifyRequest{Notification: note("Hi")})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no interceptor: err = %v, want Unauthenticated", err)
	}
}
