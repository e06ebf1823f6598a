package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// With Redis unreachable, herald starts, names Redis at error level, in
// /readyz and to clients, and go-redis's own lines arrive as structured
// log records, not as its plain "redis: 2026/…" lines.
func TestRedisUnreachableIsNamed(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	s := startServer(t, withArgs("--store=redis", "--redis-url=redis://"+addr+"/0", "--redis-prefix=herald-e2e-messages:"))
	if want := "redis unreachable at " + addr + ": dial tcp " + addr + ": connect: connection refused"; !strings.Contains(s.Logs(), want) {
		t.Errorf("logs lack %q:\n%s", want, s.Logs())
	}

	resp, err := http.Get(s.URL("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	wantStore := "redis " + addr + ": dial tcp " + addr + ": connect: connection refused"
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || body["status"] != "store unavailable" || body["store"] != wantStore {
		t.Errorf("readyz = %d %v (%v), want 503 with store %q", resp.StatusCode, body, err, wantStore)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	_, err = notifyUser(ctx, s.notifyClient(t), "alice", "Hi")
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || st.Message() != "inbox store (redis) temporarily unavailable; retry" {
		t.Errorf("Notify with Redis down: %v, want Unavailable naming the redis store", err)
	}

	s.Stop()
	for _, line := range strings.Split(strings.TrimSpace(s.Logs()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not a JSON record: %q", line)
		}
	}
}

// A second herald on a data directory in use says so, with the flag to
// change, and exits 1.
func TestSecondHeraldOnSameDataDir(t *testing.T) {
	t.Parallel()
	first := startServer(t)
	cmd := exec.Command(heraldBin, "--data-dir="+first.dataDir, "--dev", "--http-addr=127.0.0.1:0", "--grpc-addr=127.0.0.1:0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("second herald: %v, want exit status 1", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("second herald still running on a data directory in use:\n%s", stderr.String())
	}
	want := "herald: another herald process holds the data directory " + first.dataDir + " (lock " + filepath.Join(first.dataDir, "LOCK") + "): stop it or pass a different --data-dir (HERALD_DATA_DIR)"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr:\n%s\nwant %s", stderr.String(), want)
	}
}

// REST refusals say how to fix the request: which header carries the key,
// and where a body stops being JSON.
func TestRESTErrorsNameTheFix(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tests := []struct {
		name, key, body string
		code            int
		want            string
	}{
		{"no key", "", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, http.StatusUnauthorized,
			`missing API key: send "authorization: Bearer <key>" or "x-api-key: <key>"`},
		{"cut-off body", testAPIKey, `{"audience":{"user_ids":["alice"]},"title":"Hi`, http.StatusBadRequest,
			"the request body is not complete JSON: unexpected end of input after 46 bytes; send the whole JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL("/v1/notify"), strings.NewReader(tt.body))
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var st struct {
				Message string `json:"message"`
			}
			if resp.StatusCode != tt.code || json.Unmarshal(b, &st) != nil || !strings.Contains(st.Message, tt.want) {
				t.Errorf("POST /v1/notify = %d %s, want %d with %q", resp.StatusCode, b, tt.code, tt.want)
			}
		})
	}
}
