package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/logbuf"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
	"github.com/heraldhq/herald/internal/testenv"
)

// A Redis that does not answer at start is named at error level, and
// /readyz names it with the cause while it stays down.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	addr := testenv.ClosedAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })

	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := probeRedis(context.Background(), rdb, addr, log); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
	// The cause is the dial's, usually "connection refused"; another
	// process may take the freed port meanwhile, so only its place is
	// checked.
	line := regexp.MustCompile(`level=ERROR msg="redis unreachable at ` + regexp.QuoteMeta(addr) + `: [^"]+; starting anyway, not ready \(GET /readyz\) until Redis answers"`)
	if !line.MatchString(logs.String()) {
		t.Errorf("logs:\n%s\nwant a line matching %s", logs.String(), line)
	}

	st, err := redisstore.Open(context.Background(), redisstore.Options{Client: rdb, Prefix: "herald-test-readyz:", Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &App{log: log, store: st, storeName: "redis " + addr, storeHealth: &storeHealth{check: st.Ready, log: log}}
	a.ready.Store(true)
	w := httptest.NewRecorder()
	a.readyz(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("readyz body %s: %v", w.Body, err)
	}
	if w.Code != http.StatusServiceUnavailable || body["status"] != "store unavailable" || !strings.HasPrefix(body["store"], "redis "+addr+": ") || len(body["store"]) <= len("redis "+addr+": ") {
		t.Errorf(`readyz = %d %v, want 503 {"status":"store unavailable","store":"redis %s: <cause>"}`, w.Code, body, addr)
	}
}

// A node that started without Redis logs when Redis answers.
func TestAwaitRedisLogsWhenReachable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	var logs logbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	awaitRedis(ctx, rdb, "127.0.0.1:6379", time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	if want := `level=INFO msg="redis reachable at 127.0.0.1:6379; ready"`; !strings.Contains(logs.String(), want) {
		t.Errorf("logs:\n%s\nwant %s", logs.String(), want)
	}
}
