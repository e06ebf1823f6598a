package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// streamStats are counters shared by every stream of a run.
type streamStats struct {
	deliveries   atomic.Int64 // notifications received once
	duplicates   atomic.Int64 // the same notification twice on one user's stream
	bad          atomic.Int64 // events whose data carried no bench fields
	resets       atomic.Int64 // `reset` events: the resume cursor had expired
	controls     atomic.Int64 // other control events (read, shutdown, token-expired)
	drops        atomic.Int64 // streams that ended without being asked to
	reconnects   atomic.Int64 // planned drops and resumes (reconnect mode)
	lastDelivery atomic.Int64 // Unix nanoseconds of the latest delivery
	stormAt      atomic.Int64 // storm mode: Unix nanoseconds when the drops begin
	lastResume   atomic.Int64 // Unix nanoseconds of the latest successful resume
	latency      histogram
	firstErr     atomic.Pointer[string]
}

func (st *streamStats) noteErr(err error) {
	s := err.Error()
	st.firstErr.CompareAndSwap(nil, &s)
}

// dialConfig is how streams reach the server.
type dialConfig struct {
	addrs     []string // host:port of GET /v1/stream on each node; stream i uses addrs[i%len]
	sourceIPs int      // spread over 127.0.0.2 … 127.0.0.(1+sourceIPs), at most 253
	timeout   time.Duration
}

// stream is one user's SSE stream, across reconnects. Its reader goroutine
// owns recv and lastID; conn is shared with stop.
type stream struct {
	idx    int
	user   string
	token  string
	query  string // of GET /v1/stream, with its '?'; empty for none
	tgt    *target
	recv   bitset // sequence numbers received
	lastID []byte // the id of the last event received, for Last-Event-ID
	// stormed is set once the stream's storm drop is planned.
	stormed bool

	mu      sync.Mutex
	conn    net.Conn
	stopped bool
}

// localAddr spreads streams over source addresses, each with its own range
// of ephemeral ports towards the one server address.
func (d dialConfig) localAddr(idx int) *net.TCPAddr {
	if d.sourceIPs <= 0 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+idx%d.sourceIPs))}
}

// connect opens the stream, resuming after lastID if it is set, and returns
// a reader of its events once the server answered 200: from then on the
// server has the stream registered.
func (s *stream) connect(ctx context.Context, d dialConfig) (*sseReader, error) {
	dl := net.Dialer{Timeout: d.timeout, LocalAddr: d.localAddr(s.idx)}
	addr := d.addrs[s.idx%len(d.addrs)]
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var req strings.Builder
	req.Grow(512)
	req.WriteString("GET /v1/stream")
	req.WriteString(s.query)
	req.WriteString(" HTTP/1.1\r\nHost: ")
	req.WriteString(addr)
	req.WriteString("\r\nAccept: text/event-stream\r\nAuthorization: Bearer ")
	req.WriteString(s.token)
	req.WriteString("\r\nX-Bench-User: ")
	req.WriteString(s.user)
	if len(s.lastID) > 0 {
		req.WriteString("\r\nLast-Event-ID: ")
		req.Write(s.lastID)
	}
	req.WriteString("\r\n\r\n")
	_ = conn.SetDeadline(time.Now().Add(d.timeout))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 2048), nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("stream response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		conn.Close()
		return nil, fmt.Errorf("stream: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	_ = conn.SetDeadline(time.Time{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		conn.Close()
		return nil, context.Canceled
	}
	s.conn = conn
	return newSSEReader(bufio.NewReaderSize(resp.Body, 4096)), nil
}

// stop closes the stream for good; its reader returns.
func (s *stream) stop() {
	s.mu.Lock()
	s.stopped = true
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
}

func (s *stream) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// readOpts shape a stream's life.
type readOpts struct {
	dial           dialConfig
	reconnectEvery time.Duration // > 0: drop and resume about this often
	reconnectGap   time.Duration // wait between a planned drop and the resume
	stormWindow    time.Duration // > 0: drop once, within this window after stats.stormAt
	maxRetries     int           // consecutive failed reconnects before giving up
}

// read receives events until stop, reconnecting with Last-Event-ID after a
// planned drop or an unexpected end.
func (s *stream) read(ctx context.Context, r *sseReader, o readOpts, st *streamStats) {
	for {
		planned := s.receive(r, o, st)
		if s.isStopped() || ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.conn.Close()
		s.mu.Unlock()
		if planned {
			st.reconnects.Add(1)
			wait(ctx, o.reconnectGap)
		} else {
			st.drops.Add(1)
		}
		r = nil
		for try := 0; r == nil && try < o.maxRetries; try++ {
			var err error
			if r, err = s.connect(ctx, o.dial); err != nil {
				if s.isStopped() || ctx.Err() != nil {
					return
				}
				st.noteErr(fmt.Errorf("reconnect %s: %w", s.user, err))
				wait(ctx, time.Duration(try+1)*50*time.Millisecond)
			}
		}
		if r == nil {
			return
		}
		if planned {
			maxInt64(&st.lastResume, time.Now().UnixNano())
		}
	}
}

// maxInt64 raises a to v if v is larger.
func maxInt64(a *atomic.Int64, v int64) {
	for {
		l := a.Load()
		if v <= l || a.CompareAndSwap(l, v) {
			return
		}
	}
}

// receive handles events until the connection ends, and reports whether it
// ended by a planned drop.
func (s *stream) receive(r *sseReader, o readOpts, st *streamStats) (planned bool) {
	var dropAt time.Time
	switch {
	case o.reconnectEvery > 0:
		dropAt = time.Now().Add(o.reconnectEvery/2 + rand.N(o.reconnectEvery))
	}
	armed := false
	for {
		f, err := r.next()
		if err != nil {
			var ne net.Error
			if armed && errors.As(err, &ne) && ne.Timeout() {
				return true
			}
			if !s.isStopped() && !errors.Is(err, net.ErrClosed) {
				st.noteErr(fmt.Errorf("stream %s: %w", s.user, err))
			}
			return false
		}
		if f.id != nil {
			s.lastID = append(s.lastID[:0], f.id...)
		}
		switch string(f.event) {
		case "", "bench":
		case "reset":
			st.resets.Add(1)
			continue
		default:
			st.controls.Add(1)
			continue
		}
		if !f.bench {
			st.bad.Add(1)
			continue
		}
		if s.recv.set(f.seq) {
			st.duplicates.Add(1)
			continue
		}
		now := time.Now().UnixNano()
		st.deliveries.Add(1)
		st.latency.Record(time.Duration(now - f.sent))
		maxInt64(&st.lastDelivery, now)
		// A planned drop needs a resume point, or the events sent while
		// away could not be asked for again; so the deadline is set only
		// once the stream has an id.
		if !armed && dropAt.IsZero() && o.stormWindow > 0 && !s.stormed {
			// Once per stream: the storm is one event. Events flow only
			// once sending began, which set its time.
			s.stormed = true
			dropAt = time.Unix(0, st.stormAt.Load()).Add(rand.N(o.stormWindow))
		}
		if !armed && !dropAt.IsZero() && len(s.lastID) > 0 {
			armed = true
			s.mu.Lock()
			if s.conn != nil {
				_ = s.conn.SetReadDeadline(dropAt)
			}
			s.mu.Unlock()
		}
	}
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
