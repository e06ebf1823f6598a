package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/config"
)

func runNotify(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("notify", "Sends one notification with herald.v1.NotifyService/Notify and prints its ID and\nrecipient count: the inboxes it reached (the events it adds to channels are not\ncounted). It needs at least one --user, --topic or --channel.", stdout)
	var channels listFlag
	fs.Var(&channels, "channel", "live channel whose history and listeners get it, e.g. rooms/developers (repeatable, or comma-separated)")
	var (
		users    = fs.String("user", "", "comma-separated recipient user IDs")
		topics   = fs.String("topic", "", "comma-separated topics whose subscribers receive it")
		title    = fs.String("title", "", "headline (required)")
		body     = fs.String("body", "", "longer text")
		typ      = fs.String("type", "", "event type, the SSE event name (server default: notification)")
		data     = fs.String("data", "", "JSON object passed to the client, e.g. '{\"url\":\"/orders/7\"}'")
		category = fs.String("category", "", "sender-defined category")
		priority = fs.String("priority", "", "low, normal, high or critical")
		idemKey  = fs.String("idempotency-key", "", "retries with the same key are delivered once")
		server   = fs.String("server", or(getenv("HERALD_GRPC_SERVER"), defaultGRPCServer), "gRPC address of the server ($HERALD_GRPC_SERVER sets the default)")
		apiKey   = secretFlag(fs, getenv, "api-key", "HERALD_API_KEY", "service API key (default $HERALD_API_KEY; not needed with a --dev server)")
		timeout  = fs.Duration("timeout", 10*time.Second, "deadline of the call")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	n := &heraldv1.Notification{
		Audience:       &heraldv1.Audience{UserIds: config.SplitList(*users), Topics: config.SplitList(*topics), Channels: channels},
		Type:           *typ,
		Title:          *title,
		Body:           *body,
		Category:       *category,
		IdempotencyKey: *idemKey,
	}
	switch {
	case len(n.Audience.UserIds) == 0 && len(n.Audience.Topics) == 0 && len(n.Audience.Channels) == 0:
		return usagef("notify: --user, --topic or --channel is required")
	case *title == "":
		return usagef("notify: --title is required")
	case *timeout <= 0:
		return usagef("notify: --timeout must be positive")
	}
	if *data != "" {
		n.Data = &structpb.Struct{}
		if err := protojson.Unmarshal([]byte(*data), n.Data); err != nil {
			return usagef("notify: --data must be a JSON object: %v", err)
		}
	}
	if *priority != "" {
		p, ok := heraldv1.Priority_value["PRIORITY_"+strings.ToUpper(*priority)]
		if !ok || p == 0 {
			return usagef("notify: --priority %q: want low, normal, high or critical", *priority)
		}
		n.Priority = heraldv1.Priority(p)
	}

	conn, err := grpc.NewClient(*server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("notify: connect to %s: %w", *server, err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*apiKey)
	}
	resp, err := heraldv1.NewNotifyServiceClient(conn).Notify(ctx, &heraldv1.NotifyRequest{Notification: n})
	if err != nil {
		st := status.Convert(err)
		return fmt.Errorf("notify: %s: %s", st.Code(), st.Message())
	}
	line := fmt.Sprintf("id=%s recipients=%d", resp.GetId(), resp.GetRecipients())
	if resp.GetDuplicate() {
		line += " duplicate=true"
	}
	_, err = fmt.Fprintln(stdout, line)
	return err
}
