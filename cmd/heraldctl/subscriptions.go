package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/config"
)

// maxListPages bounds a listing, so that a server that keeps handing out
// page tokens cannot keep the command running.
const maxListPages = 100_000

// subscriptionFlags are the connection flags every subscription command
// shares.
type subscriptionFlags struct {
	server, apiKey *string
	timeout        *time.Duration
}

func addSubscriptionFlags(fs *flag.FlagSet, getenv env) subscriptionFlags {
	return subscriptionFlags{
		server:  fs.String("server", or(getenv("HERALD_GRPC_SERVER"), defaultGRPCServer), "gRPC address of the server ($HERALD_GRPC_SERVER sets the default)"),
		apiKey:  secretFlag(fs, getenv, "api-key", "HERALD_API_KEY", "service API key (default $HERALD_API_KEY; not needed with a --dev server)"),
		timeout: fs.Duration("timeout", 30*time.Second, "deadline of the whole command"),
	}
}

// client dials the server; the returned context carries the API key and
// the deadline.
func (f subscriptionFlags) client(ctx context.Context) (heraldv1.SubscriptionServiceClient, context.Context, func(), error) {
	if *f.timeout <= 0 {
		return nil, nil, nil, usagef("--timeout must be positive")
	}
	conn, err := grpc.NewClient(*f.server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to %s: %w", *f.server, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *f.timeout)
	if *f.apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*f.apiKey)
	}
	return heraldv1.NewSubscriptionServiceClient(conn), ctx, func() { cancel(); conn.Close() }, nil
}

func callError(name string, err error) error {
	st := status.Convert(err)
	return fmt.Errorf("%s: %s: %s", name, st.Code(), st.Message())
}

// runSubscribe and runUnsubscribe change subscriptions in bulk: every
// listed user to every listed topic.
func runSubscribe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	return changeSubscriptions(ctx, "subscribe", args, getenv, stdout, stderr)
}

func runUnsubscribe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	return changeSubscriptions(ctx, "unsubscribe", args, getenv, stdout, stderr)
}

func changeSubscriptions(ctx context.Context, name string, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, "Changes the subscriptions of every --user to every --topic (herald.v1.SubscriptionService/"+
		map[string]string{"subscribe": "Subscribe", "unsubscribe": "Unsubscribe"}[name]+").", stdout)
	users := fs.String("user", "", "comma-separated user IDs")
	topics := fs.String("topic", "", "comma-separated topics")
	conn := addSubscriptionFlags(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	us, ts := config.SplitList(*users), config.SplitList(*topics)
	if len(us) == 0 || len(ts) == 0 {
		return usagef("%s: --user and --topic are required", name)
	}
	c, ctx, done, err := conn.client(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer done()
	if name == "subscribe" {
		r, err := c.Subscribe(ctx, &heraldv1.SubscribeRequest{Topics: ts, UserIds: us})
		if err != nil {
			return callError(name, err)
		}
		_, err = fmt.Fprintf(stdout, "added=%d\n", r.GetAdded())
		return err
	}
	r, err := c.Unsubscribe(ctx, &heraldv1.UnsubscribeRequest{Topics: ts, UserIds: us})
	if err != nil {
		return callError(name, err)
	}
	_, err = fmt.Fprintf(stdout, "removed=%d\n", r.GetRemoved())
	return err
}

// runTopics prints a user's topics, one per line, following every page.
func runTopics(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("topics", "Prints the topics --user is subscribed to, one per line.", stdout)
	user := fs.String("user", "", "the user ID (required)")
	conn := addSubscriptionFlags(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return usagef("topics: --user is required")
	}
	c, ctx, done, err := conn.client(ctx)
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	defer done()
	return listPages(stdout, func(token string) ([]string, string, error) {
		r, err := c.ListUserTopics(ctx, &heraldv1.ListUserTopicsRequest{UserId: *user, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, "", callError("topics", err)
		}
		return r.GetTopics(), r.GetNextPageToken(), nil
	})
}

// runSubscribers prints a topic's subscribers, one per line, following
// every page.
func runSubscribers(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("subscribers", "Prints the users subscribed to --topic, one per line.", stdout)
	topic := fs.String("topic", "", "the topic (required)")
	conn := addSubscriptionFlags(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *topic == "" {
		return usagef("subscribers: --topic is required")
	}
	c, ctx, done, err := conn.client(ctx)
	if err != nil {
		return fmt.Errorf("subscribers: %w", err)
	}
	defer done()
	return listPages(stdout, func(token string) ([]string, string, error) {
		r, err := c.ListTopicSubscribers(ctx, &heraldv1.ListTopicSubscribersRequest{Topic: *topic, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, "", callError("subscribers", err)
		}
		return r.GetUserIds(), r.GetNextPageToken(), nil
	})
}

// listPages prints every item of a paged listing, one per line.
func listPages(w io.Writer, page func(token string) (items []string, next string, err error)) error {
	token := ""
	for range maxListPages {
		items, next, err := page(token)
		if err != nil {
			return err
		}
		for _, it := range items {
			if _, err := fmt.Fprintln(w, it); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		token = next
	}
	return fmt.Errorf("listing did not end after %d pages", maxListPages)
}
