package sse_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/sse"
)

// released is a stream limiter that admits every stream and closes itself
// when a stream gives its slot back, that is when the stream has ended.
type released chan struct{}

func (r released) Acquire(context.Context, notify.UserID) (func(), bool) {
	return func() { close(r) }, true
}

// wait fails the test with msg unless the stream ends within 10 s.
func (r released) wait(t *testing.T, msg string) {
	t.Helper()
	select {
	case <-r:
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}

// openHTTP11 starts an env whose stream reports its end, and opens an
// HTTP/1.1 stream on the wire, checking its status line.
func openHTTP11(t *testing.T) (*env, released, net.Conn, *bufio.Reader, textproto.MIMEHeader) {
	t.Helper()
	gone := make(released)
	e := newEnv(t, func(c *sse.Config) { c.Streams = gone })
	conn, br, status, hdr := rawGet(t, e, "HTTP/1.1")
	if status != "HTTP/1.1 200 OK" {
		t.Fatalf("status %q", status)
	}
	return e, gone, conn, br, hdr
}

// rawGet dials the env's server, sends a stream request as proto
// ("HTTP/1.1" or "HTTP/1.0") and returns the connection and the response
// head it read.
func rawGet(t *testing.T, e *env, proto string) (net.Conn, *bufio.Reader, string, textproto.MIMEHeader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req := "GET /v1/stream " + proto + "\r\nHost: herald\r\nAuthorization: Bearer " + tokenAlice + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("status line: %v", err)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("headers: %v", err)
	}
	return conn, br, status, hdr
}

// TestOwnConnHTTP11 reads an HTTP/1.1 stream off the wire: the response
// head, chunks that decode to the frames, and the stream's end once the
// client goes.
func TestOwnConnHTTP11(t *testing.T) {
	t.Parallel()
	e, gone, conn, br, hdr := openHTTP11(t)
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Transfer-Encoding": "chunked",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Connection":        "keep-alive",
	} {
		if got := hdr.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if _, err := http.ParseTime(hdr.Get("Date")); err != nil {
		t.Errorf("Date %q: %v", hdr.Get("Date"), err)
	}
	fr := newFrameReader(httputil.NewChunkedReader(br))
	if f, err := fr.next(); err != nil || f.raw != "retry: 3000\n\n" {
		t.Fatalf("first frame %q, %v", f.raw, err)
	}
	for _, en := range e.store.append("alice", 2) {
		f, err := fr.next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		wantEntry(t, f, en)
	}

	conn.Close()
	gone.wait(t, "the stream did not end after its client left")
	if got := metric(t, e.sseReg, "herald_sse_disconnects_total", "reason", "client_gone"); got != 1 {
		t.Errorf("client_gone disconnects = %v, want 1", got)
	}
	if got := metric(t, e.sseReg, "herald_sse_streams_active"); got != 0 {
		t.Errorf("active = %v, want 0", got)
	}
	if got := e.hub.Connections(); got != 0 {
		t.Errorf("hub connections = %d, want 0", got)
	}
}

// TestOwnConnClientSends: a client that sends anything after its request
// has its stream ended, as one that left.
func TestOwnConnClientSends(t *testing.T) {
	t.Parallel()
	_, gone, conn, br, _ := openHTTP11(t)
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: herald\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	gone.wait(t, "the stream went on after its client sent more")
	// What the stream wrote before it ended is followed by the body's end.
	fr := newFrameReader(httputil.NewChunkedReader(br))
	for range 2 {
		f, err := fr.next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil || f.raw != "retry: 3000\n\n" {
			t.Fatalf("frame %q, %v; want the retry or the end", f.raw, err)
		}
	}
	t.Fatal("no end of the body")
}

// TestOwnConnHTTP10: an HTTP/1.0 client gets an unframed body that ends
// when the server closes the connection, here at shutdown.
func TestOwnConnHTTP10(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, br, status, hdr := rawGet(t, e, "HTTP/1.0")
	if status != "HTTP/1.0 200 OK" {
		t.Fatalf("status %q", status)
	}
	for _, k := range []string{"Transfer-Encoding", "Connection", "Content-Length"} {
		if got := hdr.Get(k); got != "" {
			t.Errorf("header %s = %q over HTTP/1.0, want none", k, got)
		}
	}
	fr := readRetryThenLive(t, e, br)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.handler.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown sends a jittered retry, then its event.
	if f, err := fr.next(); err != nil || !strings.HasPrefix(f.raw, "retry:") {
		t.Fatalf("at shutdown: frame %q, %v; want a retry", f.raw, err)
	}
	if f, err := fr.next(); err != nil || f.event() != notify.EventShutdown {
		t.Fatalf("after the retry: frame %q, %v; want the shutdown event", f.raw, err)
	}
	if f, err := fr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after shutdown: frame %q, %v; want EOF", f.raw, err)
	}
}

// TestOwnConnTLS streams over HTTP/1.1 inside TLS, where the stream writes
// to the TLS connection it took over.
func TestOwnConnTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ts := httptest.NewUnstartedServer(e.handler)
	ts.EnableHTTP2 = false
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenAlice)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("response %s, TLS %v, status %d; want 200 over HTTP/1.1 in TLS", resp.Proto, resp.TLS != nil, resp.StatusCode)
	}
	readRetryThenLive(t, e, resp.Body)
}
