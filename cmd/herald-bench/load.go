package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// Load modes.
const (
	modePerUser   = "per-user"
	modeTopic     = "topic"
	modeChannel   = "channel"
	modeReconnect = "reconnect"
	modeStorm     = "storm"
)

// maxSubscribePairs is the most topic × user pairs herald takes in one
// Subscribe call.
const maxSubscribePairs = 10_000

// loadConfig is the load applied to one server; herald and the bare server
// get the same one.
type loadConfig struct {
	Streams            int
	ConnectConcurrency int
	ConnectTimeout     time.Duration
	SourceIPs          int
	Mode               string
	Rate               float64 // notifications per second; 0: as fast as acknowledged
	Callers            int
	Batch              int
	Duration           time.Duration
	Settle             time.Duration
	Drain              time.Duration
	ReconnectEvery     time.Duration
	ReconnectGap       time.Duration
	// TopicOffline users are subscribed to the topic without a stream:
	// each notification is stored for them too.
	TopicOffline int
	StormAt      time.Duration
	StormWindow  time.Duration
	// ToolGC lets the tool's own garbage collector run while it sends and
	// drains; by default it is paused then (see pauseGC).
	ToolGC bool
}

// server is where one load run goes.
type server struct {
	Name      string   // "herald" or "bare"
	HTTPAddrs []string // each node's; streams are spread over them
	Secret    string   // HS256 secret for user tokens
	Send      sender
}

// result is what one load run measured. Durations are in the units their
// names say, so that the JSON needs no explanation.
type result struct {
	Server              string  `json:"server"`
	Mode                string  `json:"mode"`
	Streams             int     `json:"streams"`
	Connected           int     `json:"connected"`
	ConnectErrors       int64   `json:"connect_errors"`
	ConnectSeconds      float64 `json:"connect_seconds"`
	ConnectsPerSecond   float64 `json:"connects_per_second"`
	Sent                int64   `json:"sent"`
	Acked               int64   `json:"acked"`
	SendErrors          int64   `json:"send_errors"`
	SendSeconds         float64 `json:"send_seconds"`
	AckedPerSecond      float64 `json:"acked_per_second"`
	StoredPerSecond     float64 `json:"entries_stored_per_second"`
	BusDropped          float64 `json:"bus_dropped_entries"`
	AckP50Ms            float64 `json:"ack_p50_ms"`
	AckP99Ms            float64 `json:"ack_p99_ms"`
	Expected            int64   `json:"expected_deliveries"`
	Deliveries          int64   `json:"deliveries"`
	DeliveriesPerSec    float64 `json:"deliveries_per_second"`
	LatencyP50Ms        float64 `json:"latency_p50_ms"`
	LatencyP90Ms        float64 `json:"latency_p90_ms"`
	LatencyP99Ms        float64 `json:"latency_p99_ms"`
	LatencyP999Ms       float64 `json:"latency_p999_ms"`
	LatencyMaxMs        float64 `json:"latency_max_ms"`
	Lost                int64   `json:"lost"`
	Duplicated          int64   `json:"duplicated"`
	UnackedReceived     int64   `json:"unacked_received"`
	BadEvents           int64   `json:"bad_events"`
	Resets              int64   `json:"resets"`
	ControlEvents       int64   `json:"control_events"`
	Drops               int64   `json:"unexpected_drops"`
	Reconnects          int64   `json:"planned_reconnects"`
	FirstError          string  `json:"first_error,omitempty"`
	ServerRSSBefore     float64 `json:"server_rss_before_bytes"`
	ServerRSSIdle       float64 `json:"server_rss_idle_bytes"`
	ServerRSSPerStream  float64 `json:"server_rss_per_stream_bytes"`
	ServerCPUConnectUs  float64 `json:"server_cpu_per_connect_us"`
	ServerCPUPerMillion float64 `json:"server_cpu_s_per_million_deliveries"`
	ToolCPUSend         float64 `json:"tool_cpu_seconds_send"`
	// ServerRSSPeak is the most the server held while sending and
	// draining, sampled every 100 ms.
	ServerRSSPeak float64 `json:"server_rss_peak_bytes"`
	// StormRecoverySeconds is, in storm mode, the time from the storm's
	// start until the last dropped stream was connected again.
	StormRecoverySeconds float64 `json:"storm_recovery_seconds,omitempty"`
}

// failed says why the run must not count, or "" if it may.
func (r *result) failed() string {
	switch {
	case r.Lost > 0 || r.Duplicated > 0:
		return fmt.Sprintf("%s: %d lost and %d duplicated events", r.Server, r.Lost, r.Duplicated)
	case r.ConnectErrors > 0:
		return fmt.Sprintf("%s: %d streams failed to connect", r.Server, r.ConnectErrors)
	case r.BadEvents > 0 || r.Resets > 0:
		return fmt.Sprintf("%s: %d unparsable events, %d resets", r.Server, r.BadEvents, r.Resets)
	case r.Acked == 0 || r.Deliveries == 0:
		return fmt.Sprintf("%s: nothing acknowledged or delivered (first error: %s)", r.Server, r.FirstError)
	}
	return ""
}

// runLoad applies cfg to srv: connect, settle, send, drain, count.
func runLoad(ctx context.Context, cfg loadConfig, srv server, log *slog.Logger) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &result{Server: srv.Name, Mode: cfg.Mode, Streams: cfg.Streams}
	runID := randomHex(4)
	// In topic and channel modes every stream gets every notification,
	// sent to bc; in the others each stream is its own target.
	var bc note
	switch cfg.Mode {
	case modeTopic:
		bc.topic = "bench-" + runID
	case modeChannel:
		bc.channel = "bench/" + runID
	}
	bcTgt := &target{}

	streams := make([]*stream, cfg.Streams)
	now := time.Now()
	for i := range streams {
		user := fmt.Sprintf("bench-%s-%06d", runID, i)
		tok := auth.Token{User: user, TTL: 24 * time.Hour}
		s := &stream{idx: i, user: user, tgt: bcTgt}
		switch {
		case bc.channel != "":
			// The token's claim opens the channel, so that the server
			// needs no --public-channels; a name matches only itself.
			// Channel names are valid unescaped in a query.
			tok.Channels = []string{bc.channel}
			s.query = "?channels=" + bc.channel
		case bc.topic == "":
			s.tgt = &target{}
		}
		var err error
		if s.token, err = tok.SignHS256([]byte(srv.Secret), now); err != nil {
			return nil, fmt.Errorf("mint token: %w", err)
		}
		streams[i] = s
	}

	if cfg.Mode == modeTopic {
		users := make([]string, 0, maxSubscribePairs)
		for i := 0; i < len(streams); i += maxSubscribePairs {
			users = users[:0]
			for _, s := range streams[i:min(i+maxSubscribePairs, len(streams))] {
				users = append(users, s.user)
			}
			if err := srv.Send.Subscribe(ctx, bc.topic, users); err != nil {
				return nil, fmt.Errorf("subscribe: %w", err)
			}
		}
		for i := 0; i < cfg.TopicOffline; i += maxSubscribePairs {
			users = users[:0]
			for j := i; j < min(i+maxSubscribePairs, cfg.TopicOffline); j++ {
				users = append(users, fmt.Sprintf("bench-%s-off-%07d", runID, j))
			}
			if err := srv.Send.Subscribe(ctx, bc.topic, users); err != nil {
				return nil, fmt.Errorf("subscribe offline users: %w", err)
			}
		}
	}

	before, err := scrapeAll(ctx, srv.HTTPAddrs)
	if err != nil {
		return nil, err
	}
	res.ServerRSSBefore = before.RSS

	// Connect.
	var st streamStats
	opts := readOpts{
		dial:       dialConfig{addrs: srv.HTTPAddrs, sourceIPs: cfg.SourceIPs, timeout: cfg.ConnectTimeout},
		maxRetries: 20,
	}
	switch cfg.Mode {
	case modeReconnect:
		opts.reconnectEvery, opts.reconnectGap = cfg.ReconnectEvery, cfg.ReconnectGap
	case modeStorm:
		opts.stormWindow = cfg.StormWindow
	}
	var (
		readers   sync.WaitGroup
		connected = make([]bool, len(streams))
		connErrs  atomic.Int64
		next      atomic.Int64
		workers   sync.WaitGroup
	)
	defer func() {
		cancel() // ends reconnects in progress, which a stop cannot reach
		for _, s := range streams {
			s.stop()
		}
		readers.Wait()
	}()
	log.Info("connecting", "server", srv.Name, "streams", cfg.Streams, "concurrency", cfg.ConnectConcurrency)
	start := time.Now()
	for range cfg.ConnectConcurrency {
		workers.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(streams) || ctx.Err() != nil {
					return
				}
				s := streams[i]
				r, err := s.connect(ctx, opts.dial)
				if err != nil {
					connErrs.Add(1)
					st.noteErr(fmt.Errorf("connect %s: %w", s.user, err))
					continue
				}
				connected[i] = true
				readers.Go(func() { s.read(ctx, r, opts, &st) })
			}
		})
	}
	workers.Wait()
	connectTime := time.Since(start)
	afterConnect, err := scrapeAll(ctx, srv.HTTPAddrs)
	if err != nil {
		return nil, err
	}
	var live []*stream
	for i, ok := range connected {
		if ok {
			live = append(live, streams[i])
		}
	}
	res.Connected = len(live)
	res.ConnectErrors = connErrs.Load()
	res.ConnectSeconds = connectTime.Seconds()
	res.ConnectsPerSecond = float64(len(live)) / connectTime.Seconds()
	if len(live) > 0 {
		res.ServerCPUConnectUs = (afterConnect.CPU - before.CPU) / float64(len(live)) * 1e6
	}
	log.Info("connected", "server", srv.Name, "streams", len(live), "errors", res.ConnectErrors, "seconds", connectTime.Seconds())
	if len(live) == 0 {
		return res, fmt.Errorf("%s: no stream connected: %s", srv.Name, deref(st.firstErr.Load()))
	}

	// Let the server's memory settle at idle, then measure it.
	wait(ctx, cfg.Settle)
	idle, err := scrapeAll(ctx, srv.HTTPAddrs)
	if err != nil {
		return nil, err
	}
	res.ServerRSSIdle = idle.RSS
	res.ServerRSSPerStream = (idle.RSS - before.RSS) / float64(len(live))

	// Send, sampling the server's memory on the side.
	resumeGC := pauseGC(!cfg.ToolGC)
	sendStart := time.Now()
	toolCPU := selfCPU()
	if cfg.Mode == modeStorm {
		at := cfg.StormAt
		if at == 0 {
			at = cfg.Duration / 3
		}
		st.stormAt.Store(sendStart.Add(at).UnixNano())
	}
	peak := sampleRSS(ctx, srv.HTTPAddrs, idle.RSS)
	sendRes := send(ctx, cfg, srv.Send, live, bc, bcTgt, &st)
	res.Sent, res.Acked, res.SendErrors = sendRes.sent, sendRes.acked, sendRes.errors
	res.SendSeconds = sendRes.elapsed.Seconds()
	res.AckedPerSecond = float64(res.Acked) / sendRes.elapsed.Seconds()
	res.AckP50Ms = ms(sendRes.ackLatency.Quantile(0.5))
	res.AckP99Ms = ms(sendRes.ackLatency.Quantile(0.99))
	switch cfg.Mode {
	case modeTopic:
		res.Expected = res.Acked * int64(len(live))
		res.StoredPerSecond = float64(res.Acked*int64(len(live)+cfg.TopicOffline)) / sendRes.elapsed.Seconds()
	case modeChannel:
		// A channel's notification is stored once, in the channel's
		// history, and in no inbox.
		res.Expected = res.Acked * int64(len(live))
	default:
		res.Expected = res.Acked
		res.StoredPerSecond = res.AckedPerSecond
	}
	log.Info("sent", "server", srv.Name, "acked", res.Acked, "errors", res.SendErrors, "seconds", res.SendSeconds)

	// Drain: wait, within a bound, for what was acknowledged to arrive.
	drainEnd := time.Now().Add(cfg.Drain)
	tick := time.NewTicker(10 * time.Millisecond)
	for st.deliveries.Load() < res.Expected && time.Now().Before(drainEnd) && ctx.Err() == nil {
		<-tick.C
	}
	tick.Stop()
	res.ToolCPUSend = selfCPU() - toolCPU
	resumeGC()
	res.ServerRSSPeak = peak()
	if at := st.stormAt.Load(); at > 0 {
		if last := st.lastResume.Load(); last > at {
			res.StormRecoverySeconds = time.Duration(last - at).Seconds()
		}
	}
	after, err := scrapeAll(ctx, srv.HTTPAddrs)
	if err != nil {
		return nil, err
	}
	res.BusDropped = after.BusDropped - before.BusDropped

	// Stop the readers, so that their records can be read.
	for _, s := range streams {
		s.stop()
	}
	readers.Wait()

	res.Deliveries = st.deliveries.Load()
	if last := st.lastDelivery.Load(); last > sendStart.UnixNano() {
		res.DeliveriesPerSec = float64(res.Deliveries) / time.Duration(last-sendStart.UnixNano()).Seconds()
	}
	if res.Deliveries > 0 {
		res.ServerCPUPerMillion = (after.CPU - idle.CPU) / float64(res.Deliveries) * 1e6
	}
	res.LatencyP50Ms = ms(st.latency.Quantile(0.50))
	res.LatencyP90Ms = ms(st.latency.Quantile(0.90))
	res.LatencyP99Ms = ms(st.latency.Quantile(0.99))
	res.LatencyP999Ms = ms(st.latency.Quantile(0.999))
	res.LatencyMaxMs = ms(st.latency.Max())
	res.Duplicated = st.duplicates.Load()
	res.BadEvents = st.bad.Load()
	res.Resets = st.resets.Load()
	res.ControlEvents = st.controls.Load()
	res.Drops = st.drops.Load()
	res.Reconnects = st.reconnects.Load()
	for _, s := range live {
		s.tgt.mu.Lock()
		res.Lost += int64(s.recv.missing(s.tgt.acked))
		res.UnackedReceived += int64(s.tgt.acked.missing(s.recv))
		s.tgt.mu.Unlock()
	}
	res.FirstError = deref(st.firstErr.Load())
	return res, nil
}

// gcBackstop is how much the tool's memory may grow while its garbage
// collector is paused before the collector runs anyway.
const gcBackstop = 4 << 30

// pauseGC pauses the tool's own garbage collector, when pause is set, until
// the returned function is called. The tool shares the machine with the
// server, and its collections, in bursts, took CPU from both and held up
// its stream readers: at 10,000 streams and 5,000 notifications/s the
// bare server's p99 measured 2.6 ms with them and 1.0 ms without. A
// memory limit of what the process holds now plus gcBackstop brings the
// collector back if a run allocates that much.
func pauseGC(pause bool) (resume func()) {
	if !pause {
		return func() {}
	}
	// No collection first: it would shrink the idle readers' stacks, and
	// each would grow its own back at its first event, in the window.
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	limit := debug.SetMemoryLimit(int64(m.Sys) + gcBackstop)
	percent := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
		runtime.GC()
	}
}

// sendResult sums up the send phase.
type sendResult struct {
	sent, acked, errors int64
	elapsed             time.Duration
	ackLatency          histogram
}

// send runs cfg.Callers callers for cfg.Duration, each sending a batch at a
// time: paced by a shared token bucket at cfg.Rate, or as fast as the
// server acknowledges if the rate is 0. In topic and channel modes every
// notification goes to bc's topic or channel, whose target is bcTgt.
func send(ctx context.Context, cfg loadConfig, snd sender, live []*stream, bc note, bcTgt *target, st *streamStats) *sendResult {
	res := &sendResult{}
	var (
		sent, acked, errs atomic.Int64
		issued            atomic.Int64 // notifications paced so far
		turn              atomic.Int64 // storm mode: the next user in turn
		callers           sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(cfg.Duration)
	for c := range cfg.Callers {
		callers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(start.UnixNano())))
			notes := make([]note, cfg.Batch)
			tgts := make([]*target, cfg.Batch)
			for ctx.Err() == nil {
				if cfg.Rate > 0 {
					// Each batch takes the next slot of the bucket; a
					// caller that is behind sends at once.
					n := issued.Add(int64(cfg.Batch)) - int64(cfg.Batch)
					due := start.Add(time.Duration(float64(n) / cfg.Rate * float64(time.Second)))
					if !due.Before(end) {
						return
					}
					wait(ctx, time.Until(due))
				}
				// A caller whose last call outlasted the duration stops
				// too, so that the rate is of the duration asked for.
				if !time.Now().Before(end) {
					return
				}
				sentAt := time.Now()
				for i := range notes {
					if bc.topic != "" || bc.channel != "" {
						tgts[i] = bcTgt
						notes[i] = note{topic: bc.topic, channel: bc.channel, seq: bcTgt.next.Add(1) - 1, sent: sentAt.UnixNano()}
						continue
					}
					s := live[rng.IntN(len(live))]
					if cfg.Mode == modeStorm {
						// Every user in turn, so that every stream has an
						// event id to resume from when the storm comes.
						s = live[int(turn.Add(1)-1)%len(live)]
					}
					tgts[i] = s.tgt
					notes[i] = note{user: s.user, seq: s.tgt.next.Add(1) - 1, sent: sentAt.UnixNano()}
				}
				sent.Add(int64(len(notes)))
				n, err := snd.Notify(ctx, notes)
				if err != nil && ctx.Err() == nil {
					errs.Add(1)
					st.noteErr(fmt.Errorf("notify: %w", err))
				}
				res.ackLatency.Record(time.Since(sentAt))
				for i := range n {
					tgts[i].ack(notes[i].seq)
				}
				acked.Add(int64(n))
			}
		})
	}
	callers.Wait()
	res.elapsed = time.Since(start)
	res.sent, res.acked, res.errors = sent.Load(), acked.Load(), errs.Load()
	return res
}

// sampleRSS reads the server's RSS every 100 ms until the returned function
// is called, which stops sampling and returns the largest value seen.
func sampleRSS(ctx context.Context, addrs []string, initial float64) func() float64 {
	ctx, cancel := context.WithCancel(ctx)
	var (
		peak atomic.Uint64
		done = make(chan struct{})
	)
	peak.Store(uint64(initial))
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if p, err := scrapeAll(ctx, addrs); err == nil && uint64(p.RSS) > peak.Load() {
				peak.Store(uint64(p.RSS))
			}
		}
	}()
	return func() float64 {
		cancel()
		<-done
		return float64(peak.Load())
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var errFailed = errors.New("lost, duplicated or failed events")
