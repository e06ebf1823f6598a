package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// defaultRetry is the reconnection delay until the server sets one.
const defaultRetry = 3 * time.Second

func runTail(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", "Opens GET /v1/stream as the user and prints each event as it arrives, until\ninterrupted. On a dropped stream it reconnects with a fresh token and the last\nevent ID, like a browser's EventSource. With --channels it streams those live\nchannels beside the inbox, with a token whose channels claim names them, and\nprints a channel's events with channel=NAME.", stdout)
	var t tokenFlags
	t.register(fs, getenv)
	var channels listFlag
	fs.Var(&channels, "channels", "live channels to stream beside the inbox, comma-separated, e.g. rooms/developers,scores/match-42 (repeatable)")
	server := fs.String("server", or(getenv("HERALD_HTTP_SERVER"), defaultHTTPServer), "HTTP base URL of the server ($HERALD_HTTP_SERVER sets the default)")
	lastID := fs.String("last-event-id", "", "resume after this cursor (sent as Last-Event-ID)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, ch := range channels {
		if _, err := notify.ParseChannel(ch); err != nil {
			return usagef("tail: --channels: %q: want ASCII letters, digits and ._-/:, at most %d bytes", ch, notify.MaxChannelLen)
		}
	}
	// tail signs its own tokens, so it may as well grant them exactly the
	// channels it streams, as the demo page's development tokens do: a
	// name holds no pattern character, so it matches only itself.
	t.channels = channels
	if err := t.resolve("tail", getenv, stderr); err != nil {
		return err
	}
	base, err := url.Parse(*server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usagef("tail: --server %q: want an http:// or https:// URL", *server)
	}
	stream := base.JoinPath("/v1/stream")
	if len(channels) > 0 {
		// Channel names are valid unescaped in a query, which keeps the
		// URL tail prints readable.
		stream.RawQuery = "channels=" + strings.Join(channels, ",")
	}
	streamURL := stream.String()

	tl := &tailer{
		url:    streamURL,
		client: &http.Client{}, // no timeout: the response is a stream
		mint:   func() (string, error) { return t.mint(time.Now()) },
		hint:   unauthorizedHint(t.devSecret),
		out:    stdout,
		errOut: stderr,
		lastID: *lastID,
		retry:  defaultRetry,
	}
	return tl.run(ctx)
}

// tailer follows one user's stream across reconnections.
type tailer struct {
	url    string
	client *http.Client
	mint   func() (string, error)
	out    io.Writer
	errOut io.Writer
	lastID string
	retry  time.Duration
	// hint follows a 401, which the server answers with a fixed message
	// that cannot say which of the token's parts it refused.
	hint string
}

// unauthorizedHint says what usually makes a server refuse the tokens tail
// mints.
func unauthorizedHint(devSecret bool) string {
	if devSecret {
		return "hint: the token is signed with the development secret, which only a --dev server without --jwt-secret accepts; " +
			"pass the server's --jwt-secret with --secret or HERALD_JWT_SECRET"
	}
	return "hint: check that --secret (or HERALD_JWT_SECRET) is the server's --jwt-secret, and that --audience and --issuer " +
		"(HERALD_JWT_AUDIENCE, HERALD_JWT_ISSUER) match its --jwt-audience and --jwt-issuer; a server with only --jwt-jwks-url refuses HS256 tokens"
}

// errFatal marks a failure that reconnecting cannot fix.
var errFatal = errors.New("giving up")

func (t *tailer) run(ctx context.Context) error {
	for {
		err := t.once(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: the normal way to stop tailing
		}
		if errors.Is(err, errFatal) {
			return fmt.Errorf("tail: %w", err)
		}
		if err != nil {
			fmt.Fprintf(t.errOut, "tail: %v; reconnecting in %v\n", err, t.retry)
		} else {
			fmt.Fprintf(t.errOut, "tail: stream closed; reconnecting in %v\n", t.retry)
		}
		timer := time.NewTimer(t.retry)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// once opens the stream with a fresh token and prints events until it ends.
func (t *tailer) once(ctx context.Context) error {
	tok, err := t.mint()
	if err != nil {
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if t.lastID != "" {
		req.Header.Set("Last-Event-ID", t.lastID)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("GET %s: %s: %s", t.url, resp.Status, strings.TrimSpace(string(msg)))
		// Like EventSource, retry only on server-side trouble.
		if resp.StatusCode >= 500 {
			return err
		}
		if resp.StatusCode == http.StatusUnauthorized && t.hint != "" {
			return fmt.Errorf("%w: %w\n%s", errFatal, err, t.hint)
		}
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%w: GET %s: Content-Type %q, want text/event-stream", errFatal, t.url, ct)
	}
	// Said on stderr, so that someone waiting for events knows the stream
	// is open and live (the server subscribes before it answers).
	fmt.Fprintf(t.errOut, "tail: connected to %s\n", t.url)

	r := newEventReader(resp.Body, t.lastID)
	for {
		ev, err := r.Next()
		if r.retry > 0 {
			t.retry = r.retry
		}
		t.lastID = r.lastID
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		line := fmt.Sprintf("id=%s event=%s data=%s\n", ev.ID, ev.Type, ev.Data)
		if ch := channelOf(ev.Data); ch != "" {
			line = fmt.Sprintf("id=%s event=%s channel=%s data=%s\n", ev.ID, ev.Type, ch, ev.Data)
		}
		if _, err := io.WriteString(t.out, line); err != nil {
			return fmt.Errorf("%w: write: %w", errFatal, err)
		}
	}
}

// channelOf returns the channel an event's data names: a channel event's
// payload, or a reset of one channel's history, carries "channel". It is ""
// for the inbox's events and for data that is not a JSON object.
func channelOf(data string) string {
	var v struct {
		Channel string `json:"channel"`
	}
	if json.Unmarshal([]byte(data), &v) != nil {
		return ""
	}
	return v.Channel
}
