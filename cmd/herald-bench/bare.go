package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/promreg"
)

// bareServer is the calibration baseline: a plain net/http SSE server with a
// goroutine per stream, no storage, no auth and no history. It speaks the
// same stream format as herald (retry frame, then id/event/data frames with
// the same payload shape), so the load tool reads both with one code path.
// A user is named by the X-Bench-User header, which herald ignores; a
// stream also listens to the channels of its `?channels=`, as herald's do,
// and a channel's notification goes to each of its streams, with no
// history: the broadcast herald's channels are compared with.
// Notifications come as JSON to POST /notify, or as herald's gRPC calls
// (bareGRPC).
type bareServer struct {
	queue     int
	heartbeat time.Duration

	mu       sync.RWMutex
	users    map[string]map[*bareConn]struct{}
	topics   map[string]map[string]struct{}
	channels map[string]map[*bareConn]struct{}
	seq      atomic.Uint64
}

// bareConn is one open stream; frames are shared by every recipient.
type bareConn struct {
	frames  chan []byte
	evicted chan struct{}
	once    sync.Once
}

func newBareServer() *bareServer {
	return &bareServer{
		queue:     256, // herald's default --stream-queue
		heartbeat: 15 * time.Second,
		users:     make(map[string]map[*bareConn]struct{}),
		topics:    make(map[string]map[string]struct{}),
		channels:  make(map[string]map[*bareConn]struct{}),
	}
}

func (s *bareServer) handler(log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	promreg.Register(reg, log, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stream", s.stream)
	mux.HandleFunc("POST /notify", s.notify)
	mux.HandleFunc("POST /subscribe", s.subscribe)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func (s *bareServer) stream(w http.ResponseWriter, r *http.Request) {
	user := r.Header.Get("X-Bench-User")
	if user == "" {
		http.Error(w, "X-Bench-User is required", http.StatusBadRequest)
		return
	}
	var channels []string
	for _, v := range r.URL.Query()["channels"] {
		for ch := range strings.SplitSeq(v, ",") {
			if ch != "" {
				channels = append(channels, ch)
			}
		}
	}
	c := &bareConn{frames: make(chan []byte, s.queue), evicted: make(chan struct{})}
	s.mu.Lock()
	join(s.users, user, c)
	for _, ch := range channels {
		join(s.channels, ch, c)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		leave(s.users, user, c)
		for _, ch := range channels {
			leave(s.channels, ch, c)
		}
		s.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 4<<10)
	bw.WriteString("retry: 3000\n\n")
	if bw.Flush() != nil || rc.Flush() != nil {
		return
	}
	hb := time.NewTimer(s.heartbeat)
	defer hb.Stop()
	for {
		select {
		case f := <-c.frames:
			bw.Write(f)
		drain:
			for range s.queue {
				select {
				case f := <-c.frames:
					bw.Write(f)
				default:
					break drain
				}
			}
		case <-hb.C:
			bw.WriteString(": keep-alive\n\n")
		case <-c.evicted:
			return
		case <-r.Context().Done():
			return
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
		hb.Reset(s.heartbeat)
	}
}

// join adds c to the streams of key (a user or a channel) in m.
func join(m map[string]map[*bareConn]struct{}, key string, c *bareConn) {
	set := m[key]
	if set == nil {
		set = make(map[*bareConn]struct{}, 1)
		m[key] = set
	}
	set[c] = struct{}{}
}

// leave removes c from the streams of key in m.
func leave(m map[string]map[*bareConn]struct{}, key string, c *bareConn) {
	set := m[key]
	delete(set, c)
	if len(set) == 0 {
		delete(m, key)
	}
}

func (s *bareServer) notify(w http.ResponseWriter, r *http.Request) {
	var req bareNotifyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp bareNotifyResponse
	resp.Results = make([]struct {
		ID         string `json:"id"`
		Recipients int    `json:"recipients"`
	}, len(req.Notifications))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i, n := range req.Notifications {
		resp.Results[i].ID, resp.Results[i].Recipients = s.deliver(n, now)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// deliver gives n an ID and queues its frame for its recipients, and a
// frame naming each of its channels for that channel's streams. Like
// herald's, the count of recipients leaves channels out.
func (s *bareServer) deliver(n bareNote, now string) (id string, recipients int) {
	id = strconv.FormatUint(s.seq.Add(1), 10)
	if len(n.UserIDs) > 0 || len(n.Topics) > 0 {
		recipients = s.fanOut(bareFrame(id, now, n.Data, ""), n)
	}
	for _, ch := range n.Channels {
		s.broadcast(ch, bareFrame(id, now, n.Data, ch))
	}
	return id, recipients
}

// bareFrame encodes a notification once, in herald's frame and payload
// shape, for all of its recipients; with a channel, as that channel's
// event. The tool's channel names need no JSON escaping.
func bareFrame(id, now string, data []byte, channel string) []byte {
	b := make([]byte, 0, 160+len(data)+len(channel))
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: bench\ndata: {\"id\":\""...)
	b = append(b, id...)
	b = append(b, `","type":"bench","title":"bench","data":`...)
	b = append(b, data...)
	if channel != "" {
		b = append(b, `,"channel":"`...)
		b = append(b, channel...)
		b = append(b, '"')
	}
	b = append(b, `,"priority":"normal","created_at":"`...)
	b = append(b, now...)
	return append(b, "\"}\n\n"...)
}

// fanOut queues frame for every stream of the note's users and of its
// topics' subscribers, evicting streams whose queue is full, and returns
// the number of users reached.
func (s *bareServer) fanOut(frame []byte, n bareNote) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	users := 0
	send := func(u string) {
		users++
		for c := range s.users[u] {
			c.offer(frame)
		}
	}
	for _, u := range n.UserIDs {
		send(u)
	}
	for _, t := range n.Topics {
		for u := range s.topics[t] {
			send(u)
		}
	}
	return users
}

// broadcast queues frame for every stream listening to channel.
func (s *bareServer) broadcast(channel string, frame []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.channels[channel] {
		c.offer(frame)
	}
}

// offer queues frame for c, or evicts c if its queue is full.
func (c *bareConn) offer(frame []byte) {
	select {
	case c.frames <- frame:
	default:
		c.once.Do(func() { close(c.evicted) })
	}
}

func (s *bareServer) subscribe(w http.ResponseWriter, r *http.Request) {
	var req bareSubscribeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.addSubscriptions(req.Topics, req.UserIDs)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}\n")
}

func (s *bareServer) addSubscriptions(topics, users []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		set := s.topics[t]
		if set == nil {
			set = make(map[string]struct{}, len(users))
			s.topics[t] = set
		}
		for _, u := range users {
			set[u] = struct{}{}
		}
	}
}

// bareGRPC takes herald's NotifyService and Subscribe calls, so that with
// --bare-notify=grpc the bare server gets the very calls herald gets. It
// checks no credential, validates nothing and stores nothing: what it
// costs is grpc-go's and the streams'.
type bareGRPC struct {
	heraldv1.UnimplementedNotifyServiceServer
	heraldv1.UnimplementedSubscriptionServiceServer
	s *bareServer
}

func (g bareGRPC) Notify(_ context.Context, req *heraldv1.NotifyRequest) (*heraldv1.NotifyResponse, error) {
	return g.deliver(req.GetNotification(), time.Now().UTC().Format(time.RFC3339Nano))
}

func (g bareGRPC) NotifyBatch(_ context.Context, req *heraldv1.NotifyBatchRequest) (*heraldv1.NotifyBatchResponse, error) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	resp := &heraldv1.NotifyBatchResponse{Results: make([]*heraldv1.NotifyResponse, len(req.GetNotifications()))}
	for i, n := range req.GetNotifications() {
		r, err := g.deliver(n, now)
		if err != nil {
			return nil, err
		}
		resp.Results[i] = r
	}
	return resp, nil
}

func (g bareGRPC) deliver(n *heraldv1.Notification, now string) (*heraldv1.NotifyResponse, error) {
	if n == nil {
		return nil, status.Error(codes.InvalidArgument, "notification is required")
	}
	data, err := json.Marshal(n.GetData().AsMap())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	a := n.GetAudience()
	id, recipients := g.s.deliver(bareNote{UserIDs: a.GetUserIds(), Topics: a.GetTopics(), Channels: a.GetChannels(), Data: data}, now)
	return &heraldv1.NotifyResponse{Id: id, Recipients: int32(recipients)}, nil
}

func (g bareGRPC) Subscribe(_ context.Context, req *heraldv1.SubscribeRequest) (*heraldv1.SubscribeResponse, error) {
	g.s.addSubscriptions(req.GetTopics(), req.GetUserIds())
	return &heraldv1.SubscribeResponse{}, nil
}

// bareStartedMsg is the message of the JSON line the bare server prints on
// stdout once it listens, as herald logs "herald started".
const bareStartedMsg = "bare started"

// serveBare runs the bare server on addr until ctx ends, and takes gRPC
// calls on grpcAddr too unless it is empty.
func serveBare(ctx context.Context, addr, grpcAddr string, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bare: listen: %w", err)
	}
	bare := newBareServer()
	srv := &http.Server{Handler: bare.handler(log), ReadHeaderTimeout: 10 * time.Second}
	started := map[string]string{"msg": bareStartedMsg, "http_addr": ln.Addr().String()}
	errc := make(chan error, 2)
	if grpcAddr != "" {
		gln, err := net.Listen("tcp", grpcAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("bare: listen: %w", err)
		}
		// herald's worker count (internal/app), so that both serve calls
		// the same way.
		gs := grpc.NewServer(grpc.NumStreamWorkers(64))
		heraldv1.RegisterNotifyServiceServer(gs, bareGRPC{s: bare})
		heraldv1.RegisterSubscriptionServiceServer(gs, bareGRPC{s: bare})
		defer gs.Stop()
		started["grpc_addr"] = gln.Addr().String()
		go func() { errc <- gs.Serve(gln) }()
	}
	line, _ := json.Marshal(started)
	fmt.Fprintf(stdout, "%s\n", line)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Streams never end by themselves; close them rather than wait.
	if err := srv.Close(); err != nil {
		log.Warn("bare: close", "error", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
