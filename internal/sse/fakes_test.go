package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/logbuf"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/sse"
)

// fakeVerifier accepts the tokens it knows.
type fakeVerifier map[string]auth.Claims

func (v fakeVerifier) Verify(_ context.Context, token string) (auth.Claims, error) {
	c, ok := v[token]
	if !ok {
		return auth.Claims{}, errors.New("unknown token")
	}
	return c, nil
}

// memStore is an in-memory inbox that, like the real store, makes an entry
// readable and hands it to the hub in one step, in cursor order per user.
type memStore struct {
	hub *hub.Hub

	mu      sync.Mutex
	entries map[notify.UserID][]notify.Entry
	floor   map[notify.UserID]notify.Cursor // reads after a lower cursor are expired
	onRead  func()                          // called at each Read, outside the lock
	padding int                             // bytes of padding in each payload
	readErr error                           // returned by Read if set
}

func newMemStore(h *hub.Hub) *memStore {
	return &memStore{hub: h, entries: map[notify.UserID][]notify.Entry{}, floor: map[notify.UserID]notify.Cursor{}}
}

var createTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// append commits n entries for user and publishes them.
func (m *memStore) append(user notify.UserID, n int) []notify.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	es := m.entries[user]
	batch := make([]notify.Entry, n)
	for i := range batch {
		c := notify.Cursor(len(es) + 1)
		no := &notify.Notification{ID: fmt.Sprintf("%s-%d", user, c), Type: "test.created", Title: "t", CreateTime: createTime}
		if m.padding > 0 {
			no.Data = []byte(`{"pad":"` + strings.Repeat("x", m.padding) + `"}`)
		}
		batch[i] = notify.Entry{User: user, Cursor: c, Notification: no}
		es = append(es, batch[i])
	}
	m.entries[user] = es
	m.hub.Publish(batch)
	return batch
}

func (m *memStore) Read(_ context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	if m.onRead != nil {
		m.onRead()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.readErr != nil {
		return nil, m.readErr
	}
	es := m.entries[user]
	if after < m.floor[user] || int(after) > len(es) {
		return nil, notify.ErrCursorExpired
	}
	out := es[after:]
	if len(out) > limit {
		out = out[:limit]
	}
	return append([]notify.Entry(nil), out...), nil
}

func (m *memStore) Last(_ context.Context, user notify.UserID) (notify.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return notify.Cursor(len(m.entries[user])), nil
}

// env is a handler on a test server with its hub, store and metrics.
type env struct {
	t        *testing.T
	hub      *hub.Hub
	store    *memStore
	handler  *sse.Handler
	srv      *httptest.Server
	hubReg   *prometheus.Registry
	sseReg   *prometheus.Registry
	logs     *logbuf.Buffer
	verifier fakeVerifier
}

const (
	tokenAlice = "tok-alice-secret"
	tokenBob   = "tok-bob-secret"
)

// newEnv starts a handler on 127.0.0.1 with cfg adjusted by configure;
// cleanup shuts the streams down and then the server.
func newEnv(t *testing.T, configure func(*sse.Config)) *env {
	t.Helper()
	e := &env{t: t, hubReg: prometheus.NewPedanticRegistry(), sseReg: prometheus.NewPedanticRegistry(), logs: &logbuf.Buffer{}}
	e.hub = hub.New(hub.Options{Registerer: e.hubReg})
	e.store = newMemStore(e.hub)
	e.verifier = fakeVerifier{
		tokenAlice: {User: "alice", Expiry: time.Now().Add(time.Hour)},
		tokenBob:   {User: "bob"},
	}
	cfg := sse.Config{
		Store:      e.store,
		Hub:        e.hub,
		Verifier:   e.verifier,
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: e.sseReg,
	}
	if configure != nil {
		configure(&cfg)
	}
	e.handler = sse.NewHandler(cfg)
	e.srv = httptest.NewUnstartedServer(e.handler)
	e.srv.Config.Protocols = new(http.Protocols)
	e.srv.Config.Protocols.SetHTTP1(true)
	e.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.handler.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

// request builds a GET of the stream with a bounded lifetime.
func (e *env) request(query string, header http.Header) *http.Request {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	e.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/stream"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

// do sends req with the server's client and closes the body at cleanup.
func (e *env) do(req *http.Request) *http.Response {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("GET: %v", err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// connect opens a stream and returns it after the retry frame, when the
// stream's subscription is registered.
func (e *env) connect(token, query string, header http.Header) (*http.Response, *frameReader) {
	e.t.Helper()
	if header == nil {
		header = http.Header{}
	}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	resp := e.do(e.request(query, header))
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	fr := newFrameReader(resp.Body)
	f, err := fr.next()
	if err != nil {
		e.t.Fatalf("first frame: %v", err)
	}
	if v, ok := f.value("retry"); !ok || len(f.fields) != 1 {
		e.t.Fatalf("first frame %q, want a retry", f.raw)
	} else if v != "3000" {
		e.t.Fatalf("retry = %s, want 3000", v)
	}
	return resp, fr
}

// metric returns the value of a metric in reg, matching labels if given.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// wantEntry checks that f is exactly the frame of entry en.
func wantEntry(t *testing.T, f frame, en notify.Entry) {
	t.Helper()
	want := "id: " + en.Cursor.String() + "\nevent: " + en.Notification.EventType() + "\ndata: " + string(en.Payload()) + "\n\n"
	if f.raw != want {
		t.Fatalf("frame\n got %q\nwant %q", f.raw, want)
	}
}

// readRetryThenLive reads a new stream's retry frame from body, commits one
// entry for alice and checks that it arrives next; it returns the reader
// for what follows.
func readRetryThenLive(t *testing.T, e *env, body io.Reader) *frameReader {
	t.Helper()
	fr := newFrameReader(body)
	if f, err := fr.next(); err != nil || f.raw != "retry: 3000\n\n" {
		t.Fatalf("first frame %q, %v", f.raw, err)
	}
	en := e.store.append("alice", 1)[0]
	f, err := fr.next()
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	wantEntry(t, f, en)
	return fr
}

// memChannels is an in-memory channel history that, like memStore, makes
// an event readable and hands it to the hub in one step.
type memChannels struct {
	mu     sync.Mutex
	events map[notify.Channel][]notify.Entry
}

func newMemChannels() *memChannels {
	return &memChannels{events: map[notify.Channel][]notify.Entry{}}
}

// publish commits n as the next event of ch and hands it to h.
func (m *memChannels) publish(t *testing.T, h *hub.Hub, ch notify.Channel, n *notify.Notification) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := notify.Entry{User: ch.Key(), Cursor: notify.Cursor(len(m.events[ch]) + 1), Notification: n}
	m.events[ch] = append(m.events[ch], e)
	h.Publish([]notify.Entry{e})
}

func (m *memChannels) ChannelRead(_ context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	es := m.events[ch]
	if int(after) > len(es) {
		return nil, notify.ErrCursorExpired
	}
	out := es[after:]
	if len(out) > limit {
		out = out[:limit]
	}
	return append([]notify.Entry(nil), out...), nil
}

func (m *memChannels) ChannelLast(_ context.Context, ch notify.Channel) (notify.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return notify.Cursor(len(m.events[ch])), nil
}
