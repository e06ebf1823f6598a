package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

func TestClientLogger(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l := redisstore.NewClientLogger(slog.New(slog.NewJSONHandler(&out, nil)).With("component", "redis"))
	_ = func() { goredis.SetLogger(l) } // it is a go-redis logger; not called: the logger is process-global
	for range 3 {
		l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "dial tcp 127.0.0.1:1: connect: connection refused")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := `"level":"WARN","msg":"connection pool: failed to dial after 5 attempts: dial tcp 127.0.0.1:1: connect: connection refused","component":"redis"}`
	if len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
		t.Errorf("logged %q\nwant one line ending %s", lines, want)
	}
}
