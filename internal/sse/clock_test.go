package sse_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/sse"
)

// recorder is an in-memory streaming ResponseWriter for tests in a synctest
// bubble, where real sockets cannot be used. While blocked is open, Write
// waits on it, like a peer that stopped reading.
type recorder struct {
	mu      sync.Mutex
	header  http.Header
	status  int
	buf     bytes.Buffer
	flushes int
	blocked chan struct{}
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	block := r.blocked
	r.mu.Unlock()
	if block != nil {
		<-block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushes++
}

// take returns what was written since the last take.
func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.buf.String()
	r.buf.Reset()
	return s
}

type clockEnv struct {
	hub     *hub.Hub
	store   *memStore
	handler *sse.Handler
	reg     *prometheus.Registry
}

// startStream serves alice's stream (token valid for ttl) in the bubble and
// returns the recorder, a cancel for the client side and a channel closed
// when ServeHTTP returns.
func startStream(t *testing.T, ttl time.Duration, configure func(*sse.Config)) (*clockEnv, *recorder, context.CancelFunc, <-chan struct{}) {
	t.Helper()
	ce := &clockEnv{reg: prometheus.NewPedanticRegistry()}
	ce.hub = hub.New(hub.Options{})
	ce.store = newMemStore(ce.hub)
	cfg := sse.Config{
		Store:      ce.store,
		Hub:        ce.hub,
		Verifier:   fakeVerifier{tokenAlice: {User: "alice", Expiry: time.Now().Add(ttl)}},
		Registerer: ce.reg,
	}
	if configure != nil {
		configure(&cfg)
	}
	ce.handler = sse.NewHandler(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tokenAlice)
	rec := newRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ce.handler.ServeHTTP(rec, req)
	}()
	synctest.Wait()
	if got := rec.take(); got != "retry: 3000\n\n" {
		t.Fatalf("first write %q", got)
	}
	return ce, rec, cancel, done
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ce, rec, cancel, done := startStream(t, time.Hour, nil)

		time.Sleep(sse.DefaultHeartbeat - time.Nanosecond)
		synctest.Wait()
		if got := rec.take(); got != "" {
			t.Fatalf("before the heartbeat: %q", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := rec.take(); got != ": keep-alive\n\n" {
			t.Fatalf("at the heartbeat: %q", got)
		}

		// An event restarts the idle interval.
		time.Sleep(5 * time.Second)
		en := ce.store.append("alice", 1)[0]
		synctest.Wait()
		if got, want := rec.take(), "id: 1\nevent: test.created\ndata: "+string(en.Payload())+"\n\n"; got != want {
			t.Fatalf("event: got %q, want %q", got, want)
		}
		time.Sleep(sse.DefaultHeartbeat - time.Nanosecond)
		synctest.Wait()
		if got := rec.take(); got != "" {
			t.Fatalf("heartbeat too early after an event: %q", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := rec.take(); got != ": keep-alive\n\n" {
			t.Fatalf("second heartbeat: %q", got)
		}

		cancel()
		<-done
		if got := metric(t, ce.reg, "herald_sse_disconnects_total", "reason", "client_gone"); got != 1 {
			t.Errorf("client_gone = %v, want 1", got)
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ce, rec, cancel, done := startStream(t, 40*time.Second, nil)
		defer cancel()
		time.Sleep(40 * time.Second)
		<-done
		want := ": keep-alive\n\n: keep-alive\n\nevent: token-expired\ndata: {\"reason\":\"token_expired\"}\n\n"
		if got := rec.take(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if got := metric(t, ce.reg, "herald_sse_disconnects_total", "reason", "token_expired"); got != 1 {
			t.Errorf("token_expired = %v, want 1", got)
		}
		if got := metric(t, ce.reg, "herald_sse_streams_active"); got != 0 {
			t.Errorf("active = %v, want 0", got)
		}
	})
}

// TestEvictionEndsStream stalls the writer so that the hub evicts the stream,
// and checks that the stream ends, without a frame, once the write returns.
func TestEvictionEndsStream(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ce, rec, cancel, done := startStream(t, time.Hour, func(c *sse.Config) { c.QueueSize = 2 })
		defer cancel()
		unblock := make(chan struct{})
		rec.mu.Lock()
		rec.blocked = unblock
		rec.mu.Unlock()

		ce.store.append("alice", 1) // taken by the stream, stuck in Write
		synctest.Wait()
		ce.store.append("alice", 3) // two fill the queue, the third overflows it
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("stream ended while its write was stuck")
		default:
		}
		close(unblock)
		<-done
		if got := metric(t, ce.reg, "herald_sse_disconnects_total", "reason", "slow_consumer"); got != 1 {
			t.Errorf("slow_consumer = %v, want 1", got)
		}
		if ce.hub.Connections() != 0 {
			t.Errorf("hub still has %d connections", ce.hub.Connections())
		}
	})
}

// TestShutdownWaits checks that Shutdown gives up when ctx ends before a
// stuck stream does, and returns nil once the streams are done.
func TestShutdownWaits(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ce, rec, cancel, done := startStream(t, time.Hour, nil)
		defer cancel()
		unblock := make(chan struct{})
		rec.mu.Lock()
		rec.blocked = unblock
		rec.mu.Unlock()

		ctx, stop := context.WithTimeout(context.Background(), time.Second)
		defer stop()
		if err := ce.handler.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with a stuck stream = %v, want DeadlineExceeded", err)
		}
		close(unblock)
		<-done
		if err := ce.handler.Shutdown(context.Background()); err != nil {
			t.Fatalf("second Shutdown = %v", err)
		}
		frames, err := parseAll(rec.take())
		if err != nil || len(frames) != 2 || frames[1].event() != "shutdown" {
			t.Fatalf("final frames %v, %v", frames, err)
		}
	})
}
