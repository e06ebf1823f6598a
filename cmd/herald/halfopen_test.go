package main_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// freezer forwards TCP connections to a target until frozen; then it stops
// forwarding in both directions and closes nothing, like a client whose
// host vanished or a network that drops its packets.
type freezer struct {
	lis    net.Listener
	target string
	frozen chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{lis: lis, target: target, frozen: make(chan struct{})}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *freezer) Addr() string { return f.lis.Addr().String() }

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

func (f *freezer) accept() {
	defer f.wg.Done()
	for {
		c, err := f.lis.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		f.wg.Add(2)
		go f.pipe(up, c)
		go f.pipe(c, up)
	}
}

// pipe copies src to dst until frozen; what it reads after that is held.
func (f *freezer) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return // the connections stay open until close
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) close() {
	f.freeze()
	f.lis.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// TestGRPCStreamHalfOpenFreesSlot: a gRPC stream whose client vanishes
// without closing anything gives its per-user slot back within the
// keepalive bound, two heartbeats (--heartbeat=1s here): the server pings
// the silent connection and closes it when no answer comes.
func TestGRPCStreamHalfOpenFreesSlot(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--max-streams-per-user=1"))
	px := newFreezer(t, s.GRPCAddr)

	gone := heraldv1.NewInboxServiceClient(grpcConn(t, px.Addr()))
	grpcStream(t, gone, "alice", "")

	// The slot is taken: a second stream is refused.
	direct := s.inboxClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	second, err := direct.Stream(asUser(t, ctx, "alice"), &heraldv1.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second stream: %v, want RESOURCE_EXHAUSTED", err)
	}

	px.freeze()
	const active = `herald_stream_active{transport="grpc"}`
	took := waitMetric(t, s, active, 0, 10*time.Second)
	t.Logf("slot freed %v after the client vanished (heartbeat 1s)", took.Round(10*time.Millisecond))
	if took > 4*time.Second {
		t.Errorf("slot freed after %v, want within about two heartbeats (2 s)", took)
	}
	if got := metricValue(t, s, `herald_stream_disconnects_total{reason="client_gone",transport="grpc"}`); got != 1 {
		t.Errorf("client_gone disconnects = %v, want 1", got)
	}

	// The freed slot serves a new stream.
	st, _ := grpcStream(t, direct, "alice", "")
	if _, err := notifyUser(t.Context(), s.notifyClient(t), "alice", "after"); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, st); ev.GetTitle() != "after" {
		t.Fatalf("got %v, want the notification sent after the slot was freed", ev)
	}
}

// TestStreamMetricsPerTransport: one SSE and one gRPC stream of a user,
// each replaying N entries and then sent M live, count the same in
// herald_stream_*, labelled by transport; the former herald_sse_* names
// read the same figures.
func TestStreamMetricsPerTransport(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	nc := s.notifyClient(t)
	const replayed, live = 3, 2
	for i := range replayed {
		if _, err := notifyUser(t.Context(), nc, "mia", "stored "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}

	sse := openStream(t, s.HTTPAddr, "/v1/stream", map[string]string{
		"Authorization": "Bearer " + token(t, "mia"),
		"Last-Event-ID": "0",
	})
	gst, stop := grpcStream(t, s.inboxClient(t), "mia", "0")
	recvBoth := func(n int) {
		t.Helper()
		for range n {
			if _, _, err := sse.NextNotification(10 * time.Second); err != nil {
				t.Fatalf("sse: %v", err)
			}
			recvEvent(t, gst)
		}
	}
	recvBoth(replayed)
	for i := range live {
		if _, err := notifyUser(t.Context(), nc, "mia", "live "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	recvBoth(live)
	sse.Close()
	stop()
	for _, tr := range []string{"sse", "grpc"} {
		waitMetric(t, s, `herald_stream_active{transport="`+tr+`"}`, 0, 10*time.Second)
	}

	for _, m := range []struct {
		name string
		want float64
	}{
		{"herald_stream_replayed_total{transport=%q}", replayed},
		{"herald_stream_sent_total{transport=%q}", replayed + live},
		{`herald_stream_disconnects_total{reason="client_gone",transport=%q}`, 1},
		{`herald_stream_disconnects_total{reason="write_error",transport=%q}`, 0},
	} {
		for _, tr := range []string{"sse", "grpc"} {
			series := fmt.Sprintf(m.name, tr)
			if got := metricValue(t, s, series); got != m.want {
				t.Errorf("%s = %v, want %v", series, got, m.want)
			}
		}
	}
	for series, want := range map[string]float64{
		"herald_sse_replayed_entries_total":                  replayed,
		"herald_sse_sent_entries_total":                      replayed + live,
		`herald_sse_disconnects_total{reason="client_gone"}`: 1,
		"herald_sse_streams_active":                          0,
	} {
		if got := metricValue(t, s, series); got != want {
			t.Errorf("%s = %v, want %v (the SSE figures under their former name)", series, got, want)
		}
	}
}
