package rpc_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/limit/redislimit"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/rpc"
	"github.com/heraldhq/herald/internal/testenv"
)

// limited returns a NotifyServer whose default limit is def.
func limited(def auth.Limit, reg prometheus.Registerer) *rpc.NotifyServer {
	svc := ingest.New(router.New(nil), titleAppender{}, ingest.Options{})
	return rpc.NewNotifyServer(svc, nil, rpc.WithRateLimiter(rpc.NewRateLimiter(def, nil, reg, slog.New(slog.DiscardHandler))))
}

func send(s *rpc.NotifyServer, ctx context.Context, n int) error {
	if n == 1 {
		_, err := s.Notify(ctx, &heraldv1.NotifyRequest{Notification: note("Hi")})
		return err
	}
	ns := make([]*heraldv1.Notification, n)
	for i := range ns {
		ns[i] = note("Hi")
	}
	_, err := s.NotifyBatch(ctx, &heraldv1.NotifyBatchRequest{Notifications: ns})
	return err
}

// retryDelay returns the RetryInfo of a RESOURCE_EXHAUSTED error.
func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("err = %v, want ResourceExhausted", err)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("no RetryInfo in %v", err)
	return 0
}

func TestNotifyRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		s := limited(auth.Limit{}, reg)
		ctx := asKey(t, "name=billing rate=10 burst=5")

		for i := range 5 {
			if err := send(s, ctx, 1); err != nil {
				t.Fatalf("notification %d of the burst: %v", i, err)
			}
		}
		err := send(s, ctx, 1)
		if d := retryDelay(t, err); d != 100*time.Millisecond {
			t.Errorf("retry delay = %v, want 100ms (one token at 10/s)", d)
		}
		time.Sleep(100 * time.Millisecond) // the bubble's clock
		if err := send(s, ctx, 1); err != nil {
			t.Fatalf("after the retry delay: %v", err)
		}

		// A batch of n takes n: 3 tokens back after 300ms, a batch of 4
		// needs 100ms more, and a refused batch takes none.
		time.Sleep(300 * time.Millisecond)
		if d := retryDelay(t, send(s, ctx, 4)); d != 100*time.Millisecond {
			t.Errorf("batch of 4 with 3 tokens: delay %v, want 100ms", d)
		}
		if err := send(s, ctx, 3); err != nil {
			t.Errorf("batch of 3 with 3 tokens: %v", err)
		}
		if got := rateLimited(t, reg); got != 5 {
			t.Errorf("rate_limited_total = %v, want 5 (1 + a batch of 4)", got)
		}

		// More than the burst in one call can never pass: not worth a retry.
		time.Sleep(time.Second)
		if err := send(s, ctx, 6); status.Code(err) != codes.InvalidArgument {
			t.Errorf("batch over the burst: %v, want InvalidArgument", err)
		}
		// A request that fails gives its tokens back.
		for range 10 {
			if _, err := s.Notify(ctx, &heraldv1.NotifyRequest{Notification: note("unavailable")}); status.Code(err) != codes.Unavailable {
				t.Fatalf("failing notify: %v", err)
			}
		}
		if err := send(s, ctx, 5); err != nil {
			t.Errorf("full burst after failed requests: %v", err)
		}
	})
}

// rateLimited reads herald_notify_rate_limited_total of the one service.
func rateLimited(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "herald_notify_rate_limited_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no herald_notify_rate_limited_total")
	return 0
}

func TestNotifyRateLimitDefaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := limited(auth.Limit{Rate: 2}, nil) // burst: one second's worth
		dev := auth.WithService(context.Background(), auth.DevService)
		own := asKey(t, "name=ops")
		other := asKey(t, "name=other")
		unlimited := asKey(t, "name=bulk rate=0")

		for _, ctx := range []context.Context{dev, own, other} {
			if err := send(s, ctx, 2); err != nil {
				t.Fatalf("default burst of 2: %v", err)
			}
			if err := send(s, ctx, 1); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("third at the default 2/s: %v, want ResourceExhausted", err)
			}
		}
		for range 50 {
			if err := send(s, unlimited, 1); err != nil {
				t.Fatalf("rate=0 key: %v", err)
			}
		}

		// A reload that raises a key's limit takes effect on its next call;
		// the bucket fills at the new rate from then on.
		raised := asKey(t, "name=ops rate=100 burst=100")
		if err := send(s, raised, 1); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("empty bucket right after raising: %v, want ResourceExhausted", err)
		}
		time.Sleep(time.Second)
		if err := send(s, raised, 100); err != nil {
			t.Fatalf("batch of 100 at the raised burst: %v", err)
		}

		// A nil limiter limits nothing.
		none := rpc.NewNotifyServer(ingest.New(router.New(nil), titleAppender{}, ingest.Options{}), nil)
		for range 20 {
			if err := send(none, own, 1); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestNotifyRateLimitCluster: two NotifyServers on one Redis (two nodes)
// answer as one node does: RESOURCE_EXHAUSTED with RetryInfo past the
// shared burst, InvalidArgument above the burst, and a failed request's
// notifications given back.
func TestNotifyRateLimitCluster(t *testing.T) {
	t.Parallel()
	rdb := testenv.NeedRedis(t, testenv.RedisAddr())
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	prefix := "herald-test-" + hex.EncodeToString(id) + ":"
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	reg := prometheus.NewRegistry()
	node := func() *rpc.NotifyServer {
		svc := ingest.New(router.New(nil), titleAppender{}, ingest.Options{})
		rates := redislimit.NewRates(rdb, redislimit.Options{Prefix: prefix})
		return rpc.NewNotifyServer(svc, nil, rpc.WithRateLimiter(rpc.NewRateLimiter(auth.Limit{}, rates, reg, nil)))
	}
	a, b := node(), node()
	ctx := asKey(t, "name=billing rate=0.1 burst=5") // a token every 10 s

	if err := send(a, ctx, 3); err != nil {
		t.Fatalf("batch of 3 of the burst of 5: %v", err)
	}
	if d := retryDelay(t, send(b, ctx, 3)); d <= 0 || d > 10*time.Second {
		t.Errorf("batch of 3 with 2 left on the other node: delay %v, want (0, 10s]", d)
	}
	// A failed request on one node gives back to both.
	if _, err := a.Notify(ctx, &heraldv1.NotifyRequest{Notification: note("unavailable")}); status.Code(err) != codes.Unavailable {
		t.Fatalf("failing notify: %v", err)
	}
	if err := send(b, ctx, 2); err != nil {
		t.Fatalf("the last 2 of the burst: %v", err)
	}
	if d := retryDelay(t, send(a, ctx, 1)); d <= 0 || d > 10*time.Second {
		t.Errorf("one past the burst: delay %v, want (0, 10s]", d)
	}
	if err := send(a, ctx, 6); status.Code(err) != codes.InvalidArgument {
		t.Errorf("batch over the burst: %v, want InvalidArgument", err)
	}
	if got := rateLimited(t, reg); got != 4 {
		t.Errorf("rate_limited_total = %v, want 4 (a batch of 3 + 1)", got)
	}
}
