package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testbin"
	"github.com/heraldhq/herald/internal/testenv"
)

// childEnv makes the test binary run the command line it is given instead
// of the tests, as the herald-bench binary does for `serve-bare`.
const childEnv = "HERALD_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if err := bins.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// bins is the herald that TestSmoke runs: `make test` passes the one `make
// build` wrote; a plain `go test` builds it when TestSmoke first asks, before
// the test's own time budget starts, so that -short and -run TestCalibration
// build nothing (see internal/testbin, also for why it is not race-built).
var bins = testbin.New("herald")

// TestSmoke is the smoke mode of the issue, run by `make test`: herald
// built from this tree (see bins), 1,000 streams, a few seconds of per-user
// load, and no lost or duplicated event.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs herald")
	}
	testenv.NeedOpenFiles(t, 2*1000+200)
	bin, err := bins.Path("herald")
	if err != nil {
		t.Fatal(err)
	}
	// The budget of the two runs; the build, if any, came before it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"--smoke", "--herald-bin", bin, "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("smoke: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var out struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Results) != 1 {
		t.Fatalf("JSON output (%v):\n%s", err, stdout.String())
	}
	r := out.Results[0]
	t.Logf("herald smoke: %d streams, %d acked, %d delivered, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		r.Connected, r.Acked, r.Deliveries, r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	if r.Connected != 1000 || r.Lost != 0 || r.Duplicated != 0 || r.Deliveries != r.Acked || r.Acked == 0 {
		t.Errorf("got %d connected, %d acked, %d delivered, %d lost, %d duplicated; want 1000 connected, every acked event delivered once",
			r.Connected, r.Acked, r.Deliveries, r.Lost, r.Duplicated)
	}

	// A small reconnect storm: every stream drops within one second and
	// resumes with Last-Event-ID while notifications keep flowing, sent
	// over REST this time, so that both ways in are covered.
	stdout.Reset()
	stderr.Reset()
	err = run(ctx, []string{"--mode", "storm", "--notify", "rest", "--streams", "500", "--rate", "1000", "--duration", "3s",
		"--settle", "100ms", "--drain", "5s", "--herald-bin", bin, "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("storm: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Results) != 1 {
		t.Fatalf("JSON output (%v):\n%s", err, stdout.String())
	}
	r = out.Results[0]
	t.Logf("herald storm: %d streams resumed within %.2f s, peak RSS %.1f MB, %d delivered",
		r.Reconnects, r.StormRecoverySeconds, r.ServerRSSPeak/(1<<20), r.Deliveries)
	if r.Reconnects != 500 || r.StormRecoverySeconds <= 0 || r.Lost != 0 || r.Duplicated != 0 || r.Deliveries != r.Acked || r.Acked == 0 {
		t.Errorf("storm: got %d resumed, recovery %.2f s, %d acked, %d delivered, %d lost, %d duplicated; want all 500 resumed and every acked event delivered once",
			r.Reconnects, r.StormRecoverySeconds, r.Acked, r.Deliveries, r.Lost, r.Duplicated)
	}
}

// TestSmokeChannel: every stream listens to one channel, which the load
// publishes to over gRPC and over REST; every acknowledged event reaches
// every stream once.
func TestSmokeChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs herald")
	}
	testenv.NeedOpenFiles(t, 2*300+200)
	bin, err := bins.Path("herald")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, way := range []string{notifyGRPC, notifyREST} {
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"--mode", "channel", "--notify", way, "--streams", "300", "--rate", "100", "--duration", "2s",
			"--settle", "100ms", "--drain", "5s", "--herald-bin", bin, "--json"}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("channel over %s: %v\nstdout:\n%s\nstderr:\n%s", way, err, stdout.String(), stderr.String())
		}
		var out struct {
			Results []result `json:"results"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Results) != 1 {
			t.Fatalf("JSON output (%v):\n%s", err, stdout.String())
		}
		r := out.Results[0]
		t.Logf("channel over %s: %d streams, %d acked, %d delivered, p50 %.2f ms, p99 %.2f ms", way, r.Connected, r.Acked, r.Deliveries, r.LatencyP50Ms, r.LatencyP99Ms)
		if r.Connected != 300 || r.Lost != 0 || r.Duplicated != 0 || r.Acked == 0 || r.Deliveries != 300*r.Acked || r.Expected != r.Deliveries {
			t.Errorf("channel over %s: got %d connected, %d acked, %d delivered of %d expected, %d lost, %d duplicated; want 300 connected, every acked event delivered to each once",
				way, r.Connected, r.Acked, r.Deliveries, r.Expected, r.Lost, r.Duplicated)
		}
	}
}

// TestSmokeCluster: two nodes on the test Redis, streams and calls spread
// over both, every acknowledged event delivered once across nodes.
func TestSmokeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two herald nodes")
	}
	rdb := testenv.NeedRedis(t, testenv.RedisAddr())
	testenv.NeedOpenFiles(t, 2*400+200)
	bin, err := bins.Path("herald")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "herald-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"--streams", "400", "--rate", "500", "--duration", "2s", "--settle", "100ms", "--drain", "5s",
		"--herald-bin", bin, "--herald-nodes", "2", "--herald-arg=--store=redis",
		"--herald-arg=--redis-url=redis://" + testenv.RedisAddr() + "/0", "--herald-arg=--redis-prefix=" + prefix, "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("cluster smoke: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var out struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Results) != 1 {
		t.Fatalf("JSON output (%v):\n%s", err, stdout.String())
	}
	r := out.Results[0]
	t.Logf("two nodes: %d streams, %d acked, %d delivered, p50 %.2f ms, p99 %.2f ms", r.Connected, r.Acked, r.Deliveries, r.LatencyP50Ms, r.LatencyP99Ms)
	if r.Connected != 400 || r.Lost != 0 || r.Duplicated != 0 || r.Deliveries != r.Acked || r.Acked == 0 {
		t.Errorf("got %d connected, %d acked, %d delivered, %d lost, %d duplicated; want 400 connected, every acked event delivered once",
			r.Connected, r.Acked, r.Deliveries, r.Lost, r.Duplicated)
	}
}

// TestCalibration runs the same client path against the bare server, in
// per-user, topic and channel mode, with notifications over HTTP and over gRPC,
// through a child process as --calibrate does.
func TestCalibration(t *testing.T) {
	testenv.NeedOpenFiles(t, 2*200+200)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mode, notify, server string }{
		{modePerUser, bareNotifyHTTP, "bare"},
		{modeTopic, bareNotifyHTTP, "bare"},
		{modePerUser, bareNotifyGRPC, "bare-grpc"},
		{modeTopic, bareNotifyGRPC, "bare-grpc"},
		{modeChannel, bareNotifyHTTP, "bare"},
		{modeChannel, bareNotifyGRPC, "bare-grpc"},
	} {
		t.Run(tc.mode+"/"+tc.notify, func(t *testing.T) {
			mode := tc.mode
			// Topic and channel modes deliver each notification 200
			// times; a lower rate keeps the race-instrumented readers up
			// with it.
			rate := map[string]string{modePerUser: "500", modeTopic: "50", modeChannel: "50"}[mode]
			cfg, err := parseFlags([]string{"--calibrate", "--bare-notify", tc.notify, "--mode", mode, "--streams", "200", "--rate", rate,
				"--duration", "1s", "--settle", "100ms", "--drain", "5s"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg.bareCmd = func(args []string) (*exec.Cmd, error) {
				cmd := exec.Command(self, args...)
				cmd.Env = append(os.Environ(), childEnv+"=1")
				return cmd, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var logs bytes.Buffer
			results, err := runAll(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("run: %v\n%s", err, logs.String())
			}
			if len(results) != 1 {
				t.Fatalf("got %d results, want 1 (bare)", len(results))
			}
			r := results[0]
			if msg := r.failed(); msg != "" {
				t.Fatalf("%s (first error %q)", msg, r.FirstError)
			}
			if r.Server != tc.server {
				t.Errorf("server %q, want %q", r.Server, tc.server)
			}
			want := r.Acked
			if mode == modeTopic || mode == modeChannel {
				want *= 200
			}
			if r.Deliveries != want || r.Expected != want {
				t.Errorf("got %d deliveries of %d expected, want %d", r.Deliveries, r.Expected, want)
			}
			if r.LatencyP50Ms <= 0 || r.ServerRSSIdle <= 0 {
				t.Errorf("got latency p50 %v ms and server RSS %v, want both positive", r.LatencyP50Ms, r.ServerRSSIdle)
			}
			var table bytes.Buffer
			if err := report(&table, cfg, [][]*result{results}); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", table.String())
		})
	}
}
