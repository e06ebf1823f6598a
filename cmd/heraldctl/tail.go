package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultRetry is the reconnection delay until the server sets one.
const defaultRetry = 3 * time.Second

func runTail(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", "Opens GET /v1/stream as the user and prints each event as it arrives, until\ninterrupted. On a dropped stream it reconnects with a fresh token and the last\nevent ID, like a browser's EventSource.", stderr)
	var t tokenFlags
	t.register(fs, getenv)
	server := fs.String("server", "http://localhost:8080", "HTTP base URL of the server")
	lastID := fs.String("last-event-id", "", "resume after this cursor (sent as Last-Event-ID)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if t.user == "" {
		return usagef("tail: --user is required")
	}
	base, err := url.Parse(*server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usagef("tail: --server %q: want an http:// or https:// URL", *server)
	}
	streamURL := base.JoinPath("/v1/stream").String()

	tl := &tailer{
		url:    streamURL,
		client: &http.Client{}, // no timeout: the response is a stream
		mint:   func() (string, error) { return t.mint(getenv, time.Now()) },
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
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%w: GET %s: Content-Type %q, want text/event-stream", errFatal, t.url, ct)
	}

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
		if _, err := fmt.Fprintf(t.out, "id=%s event=%s data=%s\n", ev.ID, ev.Type, ev.Data); err != nil {
			return fmt.Errorf("%w: write: %w", errFatal, err)
		}
	}
}
