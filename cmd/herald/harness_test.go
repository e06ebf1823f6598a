package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/testbin"
)

// These end-to-end tests run the real herald binary as a child process on
// 127.0.0.1, so that kill -9 and restarts are real.

const (
	testSecret = "e2e-secret-0123456789-0123456789-abcdef"
	testAPIKey = "hk_e2e_test_key_0123456789"
)

// heraldBin is the herald binary under test: `make test` passes the one
// `make build` wrote; a plain `go test` builds it here, once, before m.Run
// starts the -timeout alarm, so that no test's time pays for a cold build
// (see internal/testbin, also for why it is not race-built).
var heraldBin string

func TestMain(m *testing.M) {
	bins := testbin.New("herald")
	var err error
	if heraldBin, err = bins.Path("herald"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := bins.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// server is one herald process.
type server struct {
	t        testing.TB
	cmd      *exec.Cmd
	dataDir  string
	args     []string
	HTTPAddr string
	GRPCAddr string
	// KafkaAddr is the embedded broker's address (with --kafka-embedded).
	KafkaAddr string
	exited    chan struct{}
	logMu     sync.Mutex
	logs      strings.Builder
}

type serverOpt func(*server)

// withArgs adds command-line flags.
func withArgs(args ...string) serverOpt { return func(s *server) { s.args = append(s.args, args...) } }

// withDataDir reuses a data directory (for restarts).
func withDataDir(dir string) serverOpt { return func(s *server) { s.dataDir = dir } }

// startServer starts herald with production-style auth on free ports and
// waits until it serves.
func startServer(t testing.TB, opts ...serverOpt) *server {
	t.Helper()
	s := &server{t: t, exited: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.dataDir == "" {
		s.dataDir = t.TempDir()
	}
	httpAddr, grpcAddr := "127.0.0.1:0", "127.0.0.1:0"
	for _, a := range s.args {
		if strings.HasPrefix(a, "--http-addr=") {
			httpAddr = ""
		}
		if strings.HasPrefix(a, "--grpc-addr=") {
			grpcAddr = ""
		}
	}
	args := []string{
		"--data-dir=" + s.dataDir,
		"--jwt-secret=" + testSecret,
		"--api-keys=e2e=" + auth.HashAPIKey(testAPIKey),
		"--log-format=json",
		"--heartbeat=1s",
		"--retry=200ms",
		"--shutdown-timeout=5s",
	}
	if httpAddr != "" {
		args = append(args, "--http-addr="+httpAddr)
	}
	if grpcAddr != "" {
		args = append(args, "--grpc-addr="+grpcAddr)
	}
	args = append(args, s.args...)
	s.cmd = exec.Command(heraldBin, args...)
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no HERALD_* leaking in
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start herald: %v", err)
	}
	type addrs struct{ http, grpc, kafka string }
	started := make(chan addrs, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.logs.WriteString(line + "\n")
			s.logMu.Unlock()
			var rec struct {
				Msg   string `json:"msg"`
				HTTP  string `json:"http_addr"`
				GRPC  string `json:"grpc_addr"`
				Kafka string `json:"kafka_brokers"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "herald started" {
				started <- addrs{rec.HTTP, rec.GRPC, rec.Kafka}
			}
		}
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Kill() })
	select {
	case a := <-started:
		s.HTTPAddr, s.GRPCAddr, s.KafkaAddr = a.http, a.grpc, a.kafka
	case <-s.exited:
		t.Fatalf("herald exited before starting:\n%s", s.Logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("herald did not start within 20s:\n%s", s.Logs())
	}
	return s
}

// Logs returns what the process logged so far.
func (s *server) Logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

// Kill ends the process with SIGKILL: no shutdown code runs.
func (s *server) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-s.exited
}

// Stop ends the process with SIGTERM and waits for a graceful exit.
func (s *server) Stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.t.Errorf("herald did not stop within 15s after SIGTERM")
		s.Kill()
	}
}

func (s *server) URL(path string) string { return "http://" + s.HTTPAddr + path }

// grpcConn dials addr in plain text; the test closes it at its end.
func grpcConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// notifyClient dials the server's gRPC port for NotifyService calls.
func (s *server) notifyClient(t testing.TB) heraldv1.NotifyServiceClient {
	t.Helper()
	return heraldv1.NewNotifyServiceClient(grpcConn(t, s.GRPCAddr))
}

// inboxClient dials the server's gRPC port for InboxService calls.
func (s *server) inboxClient(t testing.TB) heraldv1.InboxServiceClient {
	t.Helper()
	return heraldv1.NewInboxServiceClient(grpcConn(t, s.GRPCAddr))
}

func withKey(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testAPIKey)
}

// notifyUser sends title to user with the test API key.
func notifyUser(ctx context.Context, c heraldv1.NotifyServiceClient, user, title string) (*heraldv1.NotifyResponse, error) {
	return notifyKeyed(ctx, c, user, title, "")
}

// notifyKeyed sends title to user under an idempotency key (none if
// empty) with the test API key.
func notifyKeyed(ctx context.Context, c heraldv1.NotifyServiceClient, user, title, key string) (*heraldv1.NotifyResponse, error) {
	return c.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
		Audience:       &heraldv1.Audience{UserIds: []string{user}},
		Title:          title,
		IdempotencyKey: key,
	}})
}

func token(t testing.TB, user string) string {
	t.Helper()
	tok, err := auth.MintHS256([]byte(testSecret), user, time.Hour, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// event is one SSE event as parsed from the wire.
type event struct {
	ID, Event, Data string
	HasID           bool
}

// rawStream is an SSE client written against the wire: it sends the HTTP
// request bytes itself and parses frames line by line.
type rawStream struct {
	conn   net.Conn
	resp   *http.Response
	br     *bufio.Reader
	Retry  string
	closed bool
}

// dialSSE opens GET path on addr with the given extra request headers and
// reads the response head, dialling and reading for at most timeout each.
// It returns the response even when the status is not 200.
func dialSSE(ctx context.Context, addr, path string, headers map[string]string, timeout time.Duration) (*rawStream, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", path, addr)
	for k, v := range headers {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read stream response: %w", err)
	}
	return &rawStream{conn: conn, resp: resp, br: bufio.NewReader(resp.Body)}, nil
}

// openStream opens GET path on addr with the given extra request headers,
// closed at the test's end. It returns the response even when the status is
// not 200.
func openStream(t testing.TB, addr, path string, headers map[string]string) *rawStream {
	t.Helper()
	s, err := dialSSE(context.Background(), addr, path, headers, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// dialStream opens user's stream on addr, resuming after lastEventID if it
// is set, without a testing.T, for clients running in goroutines of their
// own; a status other than 200 is an error.
func dialStream(ctx context.Context, addr, user, lastEventID string) (*rawStream, error) {
	tok, err := auth.MintHS256([]byte(testSecret), user, time.Hour, "", "", time.Now())
	if err != nil {
		return nil, err
	}
	h := map[string]string{"Authorization": "Bearer " + tok}
	if lastEventID != "" {
		h["Last-Event-ID"] = lastEventID
	}
	s, err := dialSSE(ctx, addr, "/v1/stream", h, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if s.resp.StatusCode != http.StatusOK {
		s.Close()
		return nil, fmt.Errorf("stream status %d", s.resp.StatusCode)
	}
	return s, nil
}

func (s *rawStream) Close() {
	if !s.closed {
		s.closed = true
		s.conn.Close()
	}
}

// Next returns the next event (not comments or retry-only frames), waiting
// at most d.
func (s *rawStream) Next(d time.Duration) (event, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	var ev event
	var data []string
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return event{}, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if ev.Event != "" || data != nil || ev.HasID {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, ev.HasID = value, true
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		case "retry":
			s.Retry = value
		default:
			return event{}, fmt.Errorf("unexpected field %q in line %q", field, line)
		}
	}
}

// NextNotification skips control events and returns the next notification.
func (s *rawStream) NextNotification(d time.Duration) (event, payload, error) {
	deadline := time.Now().Add(d)
	for i := 0; i < 10000; i++ {
		ev, err := s.Next(time.Until(deadline))
		if err != nil {
			return ev, payload{}, err
		}
		switch ev.Event {
		case "reset", "shutdown", "token-expired":
			continue
		}
		var p payload
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			return ev, p, fmt.Errorf("event data %q: %w", ev.Data, err)
		}
		return ev, p, nil
	}
	return event{}, payload{}, errors.New("too many control events")
}

// payload is the JSON of a notification event.
type payload struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Body      string         `json:"body"`
	Data      map[string]any `json:"data"`
	CreatedAt string         `json:"created_at"`
}

// streamFor opens an authenticated stream for user, optionally resuming.
func (s *server) streamFor(t testing.TB, user, lastEventID string) *rawStream {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + token(t, user)}
	if lastEventID != "" {
		h["Last-Event-ID"] = lastEventID
	}
	st := openStream(t, s.HTTPAddr, "/v1/stream", h)
	if st.resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
		t.Fatalf("stream status %d: %s", st.resp.StatusCode, b)
	}
	return st
}
