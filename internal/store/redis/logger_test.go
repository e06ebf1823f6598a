package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

func TestClientLogger(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l := redisstore.ClientLogger{Log: slog.New(slog.NewJSONHandler(&out, nil)).With("component", "redis")}
	_ = func() { goredis.SetLogger(l) } // it is a go-redis logger; not called: the logger is process-global
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "dial tcp 127.0.0.1:1: connect: connection refused")
	want := `{"level":"WARN","msg":"connection pool: failed to dial after 5 attempts: dial tcp 127.0.0.1:1: connect: connection refused","component":"redis"}`
	if got := bytes.TrimSpace(out.Bytes()); !bytes.HasSuffix(got, []byte(want[1:])) || !bytes.Contains(got, []byte(`"level":"WARN"`)) {
		t.Errorf("logged %s\nwant (after time) %s", got, want)
	}
}
