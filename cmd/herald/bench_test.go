package main_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// notifyConns is how many gRPC connections BenchmarkNotify spreads its
// callers over; one HTTP/2 connection multiplexes all calls, and the flag
// shows whether that connection is the limit:
//
//	go test -run '^$' -bench BenchmarkNotify ./cmd/herald -args -notify-conns=4
var notifyConns = flag.Int("notify-conns", 1, "gRPC connections used by BenchmarkNotify")

// benchUsers is how many distinct recipients the Notify benchmarks spread
// their notifications over.
const benchUsers = 10000

// BenchmarkNotify measures acknowledged (durable) notifications per second
// through gRPC into the real server and its embedded store on disk, and the
// latency of each call. Each sub-benchmark gets its own server process and
// data directory, started once however many rounds the benchmark runs.
//
//	go test -run '^$' -bench BenchmarkNotify -benchtime 5s ./cmd/herald
func BenchmarkNotify(b *testing.B) {
	users := make([]string, benchUsers)
	for i := range users {
		users[i] = fmt.Sprintf("user-%05d", i)
	}
	cases := []struct {
		name    string
		batch   int // notifications per call; 1 means Notify, more NotifyBatch
		callers int // concurrent callers, rounded to a multiple of GOMAXPROCS
	}{
		{"single", 1, 64},
		{"batch100", 100, 8},
	}
	for _, tc := range cases {
		var (
			s       *server
			clients []heraldv1.NotifyServiceClient
		)
		b.Run(tc.name, func(sb *testing.B) {
			if s == nil {
				// Registered on the parent: the sub-benchmark's own cleanups
				// run after every round, and the server is to outlive them.
				s = startServer(b)
				clients = dialNotify(b, s, *notifyConns)
				sb.ResetTimer()
			}
			runNotify(sb, clients, users, tc.batch, tc.callers)
		})
		if s != nil {
			s.Kill()
		}
	}
}

// dialNotify opens n gRPC connections to s.
func dialNotify(b *testing.B, s *server, n int) []heraldv1.NotifyServiceClient {
	b.Helper()
	clients := make([]heraldv1.NotifyServiceClient, max(n, 1))
	for i := range clients {
		conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		clients[i] = heraldv1.NewNotifyServiceClient(conn)
	}
	return clients
}

// runNotify makes b.N calls of batch notifications each from about callers
// goroutines and reports throughput and latency.
func runNotify(b *testing.B, clients []heraldv1.NotifyServiceClient, users []string, batch, callers int) {
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	var (
		seq, worker atomic.Int64
		acked       atomic.Int64 // recipients whose inbox entry the server acknowledged
	)
	rec := &latencies{}
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(worker.Add(1))%len(clients)]
		ctx := withKey(context.Background())
		local := make([]time.Duration, 0, 1024)
		defer func() { rec.add(local) }()
		// Requests are reused: a unary call has marshalled its request by
		// the time it returns.
		ns := make([]*heraldv1.Notification, batch)
		for i := range ns {
			ns[i] = &heraldv1.Notification{
				Audience: &heraldv1.Audience{UserIds: []string{""}},
				Title:    "benchmark",
				Body:     "a notification of ordinary size, with a short body",
			}
		}
		single := &heraldv1.NotifyRequest{Notification: ns[0]}
		many := &heraldv1.NotifyBatchRequest{Notifications: ns}
		for pb.Next() {
			for _, n := range ns {
				n.Audience.UserIds[0] = users[seq.Add(1)%int64(len(users))]
			}
			t0 := time.Now()
			var got int64
			if batch == 1 {
				resp, err := c.Notify(ctx, single)
				if err != nil {
					b.Error(err)
					return
				}
				got = int64(resp.GetRecipients())
			} else {
				resp, err := c.NotifyBatch(ctx, many)
				if err != nil {
					b.Error(err)
					return
				}
				for _, r := range resp.GetResults() {
					got += int64(r.GetRecipients())
				}
			}
			local = append(local, time.Since(t0))
			acked.Add(got)
		}
	})
	elapsed := time.Since(start)
	if want := int64(b.N) * int64(batch); acked.Load() != want && !b.Failed() {
		b.Errorf("server acknowledged %d recipients, want %d", acked.Load(), want)
	}
	rec.report(b, float64(acked.Load()), elapsed)
}

// latencies collects per-call durations from parallel callers.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, notifications float64, elapsed time.Duration) {
	b.ReportMetric(notifications/elapsed.Seconds(), "notifications/s")
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		return float64(l.all[int(q*float64(len(l.all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkIdleStreamRSS opens b.N idle authenticated streams, one user
// each, and reports how much the server's resident memory grew per stream.
// The server runs with the production heartbeat (15 s), so that the streams
// are idle rather than writing a keep-alive every second.
//
//	go test -run '^$' -bench BenchmarkIdleStreamRSS -benchtime 10000x ./cmd/herald
func BenchmarkIdleStreamRSS(b *testing.B) {
	s := startServer(b, withArgs("--heartbeat=15s"))
	// One stream first, so that what every stream shares (pools, the
	// verifier, the hub's maps) is in the baseline.
	warm := s.streamFor(b, "idle-warmup", "")
	awaitRetry(b, warm)
	warm.Close()

	before := scrapeMetrics(b, s)
	b.ResetTimer()
	streams := make([]*rawStream, 0, b.N)
	for i := 0; i < b.N; i++ {
		st := s.streamFor(b, fmt.Sprintf("idle-%05d", i), "")
		streams = append(streams, st)
	}
	// The status line says the subscription exists; the retry frame says
	// the handler reached the live loop with its writers allocated.
	for _, st := range streams {
		awaitRetry(b, st)
	}
	b.StopTimer()
	after := scrapeMetrics(b, s)
	for _, m := range []metricSamples{before, after} {
		if _, ok := m["process_resident_memory_bytes"]; !ok {
			b.Fatal("no process_resident_memory_bytes in /metrics")
		}
	}
	// The warm-up stream may or may not have ended by now.
	if got := after["herald_sse_streams_active"]; got < float64(b.N) {
		b.Fatalf("server counts %v active streams, want at least %d", got, b.N)
	}

	n := float64(b.N)
	perStream := func(name string) float64 { return (after[name] - before[name]) / n }
	b.ReportMetric(perStream("process_resident_memory_bytes")/1024, "rss-KB/stream")
	b.ReportMetric(after["process_resident_memory_bytes"]/(1<<20), "rss-MB")
	b.ReportMetric(perStream("go_memstats_heap_inuse_bytes")/1024, "heap-KB/stream")
	b.ReportMetric(perStream("go_memstats_stack_inuse_bytes")/1024, "stack-KB/stream")
	b.ReportMetric(perStream("go_goroutines"), "goroutines/stream")
	b.ReportMetric(0, "ns/op")
	for _, st := range streams {
		st.Close()
	}
}

// awaitRetry reads the stream's first frame, which must set the retry
// delay.
func awaitRetry(b *testing.B, st *rawStream) {
	b.Helper()
	_ = st.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < 10; i++ {
		line, err := st.br.ReadString('\n')
		if err != nil {
			b.Fatalf("read first frame: %v", err)
		}
		if line == "\n" || line == "\r\n" {
			if st.Retry == "" {
				b.Fatal("first frame has no retry field")
			}
			return
		}
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "retry:"); ok {
			st.Retry = strings.TrimSpace(v)
		}
	}
	b.Fatal("first frame does not end")
}
