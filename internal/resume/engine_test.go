package resume_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// env is one stream under test, run in a synctest bubble.
type env struct {
	src    *source
	sink   *sink
	eng    *resume.Engine
	leave  context.CancelCauseFunc // the client leaves
	ended  chan struct{}
	reason resume.Reason
	err    error
}

// TestStream runs the engine's promise case by case: replay, reset, live
// with gap fill and without duplicates, heartbeats, and every way a stream
// ends. Each frame the sink got is a word ("open", a cursor, "reset5",
// "hb", …) and each flush a "|".
func TestStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    func(*resume.Config, *source)
		before func(*source)  // before the stream opens
		req    resume.Request // User is alice
		ttl    time.Duration  // the token's lifetime; 0 none
		steps  []func(*env)   // each followed by synctest.Wait
		want   string
		reason resume.Reason // when the stream ends; client_gone if it runs until the test leaves
		// replayed and sent are the metrics' figures.
		replayed, sent float64
	}{
		{
			name:   "live only skips what was stored before",
			before: func(s *source) { s.store(5) },
			steps:  []func(*env){func(e *env) { e.src.commit(1) }},
			want:   "open | 6 |", reason: resume.ReasonClientGone, sent: 1,
		},
		{
			name:   "resume replays in batches, then goes live",
			cfg:    func(c *resume.Config, s *source) { c.ReplayBatch = 2 },
			before: func(s *source) { s.store(5) },
			req:    resume.Request{After: resume.InboxPosition(1), Resume: true},
			steps:  []func(*env){func(e *env) { e.src.commit(1) }},
			want:   "open | 2 3 | 4 5 | 6 |", reason: resume.ReasonClientGone, replayed: 4, sent: 5,
		},
		{
			name:   "an entry both replayed and queued is sent once",
			before: func(s *source) { s.store(3) },
			cfg: func(c *resume.Config, s *source) {
				// Commits between the subscription and the replay.
				c.WaitLive = func(context.Context, notify.UserID) error { s.commit(1); return nil }
			},
			req:  resume.Request{After: resume.InboxPosition(1), Resume: true},
			want: "open | 2 3 4 | |", reason: resume.ReasonClientGone, replayed: 3, sent: 3,
		},
		{
			name:   "a gap in live entries is filled from the store",
			before: func(s *source) { s.store(5) },
			steps: []func(*env){
				func(e *env) { e.src.commit(1) },
				func(e *env) { e.src.store(2); e.src.commit(1) },
			},
			want: "open | 6 | 7 8 9 |", reason: resume.ReasonClientGone, replayed: 2, sent: 4,
		},
		{
			name: "a gap wider than a replay batch",
			cfg:  func(c *resume.Config, s *source) { c.ReplayBatch = 2 },
			steps: []func(*env){
				func(e *env) { e.src.commit(1) },
				func(e *env) { e.src.store(5); e.src.commit(1) },
			},
			want: "open | 1 | 2 3 4 5 6 7 |", reason: resume.ReasonClientGone, replayed: 5, sent: 7,
		},
		{
			name:   "a gap right after a resume",
			before: func(s *source) { s.store(1) },
			req:    resume.Request{After: resume.InboxPosition(1), Resume: true},
			steps:  []func(*env){func(e *env) { e.src.store(1); e.src.commit(1) }},
			want:   "open | 2 3 |", reason: resume.ReasonClientGone, replayed: 1, sent: 2,
		},
		{
			name: "an old entry arriving late is skipped",
			steps: []func(*env){
				func(e *env) { e.src.commit(2) },
				func(e *env) { e.src.feed.publish(&e.src.entries[0]) },
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 2 | | 3 |", reason: resume.ReasonClientGone, sent: 3,
		},
		{
			name:   "in a cluster a live-only stream starts at the store's newest, so an early entry arriving late is not lost",
			before: func(s *source) { s.store(5) },
			cfg: func(c *resume.Config, s *source) {
				c.WaitLive = func(context.Context, notify.UserID) error { return nil }
			},
			steps: []func(*env){func(e *env) {
				// Two nodes committed 6 and 7; 7's message comes first.
				es := e.src.store(2)
				e.src.feed.publish(&es[1])
				e.src.feed.publish(&es[0])
			}},
			want: "open | 6 7 |", reason: resume.ReasonClientGone, replayed: 1, sent: 2,
		},
		{
			name: "a cursor reused for another notification becomes a reset",
			steps: []func(*env){
				func(e *env) { e.src.commit(5) },
				// A failover lost 1..5's last three: the next entry is
				// cursor 3 again, another notification.
				func(e *env) { e.src.lose(3); e.src.commit(1) },
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 2 3 4 5 | reset3 | | 4 |", reason: resume.ReasonClientGone, sent: 6,
		},
		{
			name: "one reset for several reused cursors",
			steps: []func(*env){
				func(e *env) { e.src.commit(5) },
				// The three entries after the failover come in one batch,
				// and the reset moves the client past all of them: the
				// two after the first are covered by the refetch, not
				// reasons for more resets.
				func(e *env) { e.src.lose(3); e.src.commit(3) },
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 2 3 4 5 | reset5 | | 6 |", reason: resume.ReasonClientGone, sent: 6,
		},
		{
			name: "a counter gone back further than the stream remembers becomes a reset",
			steps: []func(*env){
				func(e *env) { e.src.commit(20) },
				// All but two lost: the next entry is cursor 3, older
				// than the 16 cursors the stream remembers.
				func(e *env) { e.src.lose(18); e.src.commit(1) },
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 | reset3 | | 4 |", reason: resume.ReasonClientGone, sent: 21,
		},
		{
			name: "a counter gone back and past the old position again",
			steps: []func(*env){
				func(e *env) { e.src.commit(20) },
				// 18 lost, then 19 more stored before their messages
				// come: cursor 3 arrives while the store holds 21 again,
				// the one at 20 another notification.
				func(e *env) { e.src.lose(18); es := e.src.store(19); e.src.feed.publish(&es[0]) },
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 | reset21 | | 22 |", reason: resume.ReasonClientGone, sent: 21,
		},
		{
			name: "old duplicates are checked against the store and skipped",
			steps: []func(*env){
				func(e *env) { e.src.commit(20) },
				func(e *env) {
					for i := range 3 {
						e.src.feed.publish(&e.src.entries[i])
					}
				},
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 | | 21 |", reason: resume.ReasonClientGone, sent: 21,
		},
		{
			name: "a gap trimmed meanwhile becomes a reset",
			steps: []func(*env){
				func(e *env) { e.src.commit(1) },
				func(e *env) {
					e.src.store(3)
					e.src.mu.Lock()
					e.src.floor = 4
					e.src.mu.Unlock()
					e.src.commit(1)
				},
				func(e *env) { e.src.commit(1) },
			},
			want: "open | 1 | reset5 | | 6 |", reason: resume.ReasonClientGone, sent: 2,
		},
		{
			name: "a cursor past retention is reset to the newest",
			before: func(s *source) {
				s.store(5)
				s.floor = 3
			},
			req:   resume.Request{After: resume.InboxPosition(1), Resume: true},
			steps: []func(*env){func(e *env) { e.src.commit(1) }},
			want:  "open | reset5 | 6 |", reason: resume.ReasonClientGone, sent: 1,
		},
		{
			name:   "a cursor ahead of the stream is reset too",
			before: func(s *source) { s.store(2) },
			req:    resume.Request{After: resume.InboxPosition(9), Resume: true},
			want:   "open | reset2 |", reason: resume.ReasonClientGone,
		},
		{
			name: "read-state events always go out",
			steps: []func(*env){
				func(e *env) { e.src.commit(1) },
				func(e *env) { e.src.feed.publish(&notify.Entry{User: "alice", Counts: &notify.Counts{Unread: 3}}) },
			},
			want: "open | 1 | read3 |", reason: resume.ReasonClientGone, sent: 2,
		},
		{
			name:  "heartbeats on an idle stream only",
			cfg:   func(c *resume.Config, s *source) { c.Heartbeat = 15 * time.Second },
			steps: []func(*env){sleep(10 * time.Second), func(e *env) { e.src.commit(1) }, sleep(14 * time.Second), sleep(2 * time.Second), sleep(15 * time.Second)},
			want:  "open | 1 | hb | hb |", reason: resume.ReasonClientGone, sent: 1,
		},
		{
			name:  "no heartbeat when the transport has its own",
			steps: []func(*env){sleep(time.Hour)},
			want:  "open |", reason: resume.ReasonClientGone,
		},
		{
			name:  "the token's expiry ends the stream",
			cfg:   func(c *resume.Config, s *source) { c.Heartbeat = 15 * time.Second },
			ttl:   20 * time.Second,
			steps: []func(*env){sleep(21 * time.Second)},
			want:  "open | hb | expired |", reason: resume.ReasonTokenExpired,
		},
		{
			name:  "shutdown ends the stream with its event",
			steps: []func(*env){func(e *env) { e.eng.Drain() }},
			want:  "open | shutdown |", reason: resume.ReasonShutdown,
		},
		{
			name:  "a slow consumer is evicted without a word",
			steps: []func(*env){func(e *env) { e.src.feed.end(hub.ErrSlowConsumer) }},
			want:  "open |", reason: resume.ReasonSlowConsumer,
		},
		{
			name:  "the hub closing ends the stream",
			steps: []func(*env){func(e *env) { e.src.feed.end(notify.ErrClosed) }},
			want:  "open |", reason: resume.ReasonHubClosed,
		},
		{
			name: "a failed write ends the stream",
			steps: []func(*env){func(e *env) {
				e.sink.mu.Lock()
				e.sink.failing = errBoom
				e.sink.mu.Unlock()
				e.src.commit(1)
			}},
			want: "open | 1 |", reason: resume.ReasonWriteError,
		},
		{
			name: "a write cut off by its deadline is a write error",
			steps: []func(*env){func(e *env) {
				e.sink.mu.Lock()
				e.sink.failing = errBoom
				e.sink.onFlush = func() { e.leave(resume.ErrWriteTimeout) }
				e.sink.mu.Unlock()
				e.src.commit(1)
			}},
			want: "open | 1 |", reason: resume.ReasonWriteError,
		},
		{
			name: "a write failing because the client left",
			steps: []func(*env){func(e *env) {
				e.sink.mu.Lock()
				e.sink.failing = errBoom
				e.sink.onFlush = func() { e.leave(context.Canceled) }
				e.sink.mu.Unlock()
				e.src.commit(1)
			}},
			want: "open | 1 |", reason: resume.ReasonClientGone,
		},
		{
			name:   "a store failure ends the stream",
			before: func(s *source) { s.store(2); s.readErr = errBoom },
			req:    resume.Request{After: resume.InboxPosition(0), Resume: true},
			want:   "open |", reason: resume.ReasonStoreError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := &env{src: &source{}, sink: &sink{}, ended: make(chan struct{})}
				metrics := resume.NewMetrics(nil, "test", nil)
				cfg := resume.Config{Source: e.src, Metrics: metrics}
				if tt.cfg != nil {
					tt.cfg(&cfg, e.src)
				}
				if tt.before != nil {
					tt.before(e.src)
				}
				e.eng = resume.New(cfg)
				ctx, leave := context.WithCancelCause(t.Context())
				e.leave = leave
				req := tt.req
				req.User = "alice"
				if tt.ttl > 0 {
					req.Expiry = time.Now().Add(tt.ttl)
				}
				st, err := e.eng.Open(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					defer close(e.ended)
					e.reason, e.err = st.Run(ctx, e.sink)
				}()
				synctest.Wait()
				for _, step := range tt.steps {
					step(e)
					synctest.Wait()
				}
				leave(context.Canceled)
				<-e.ended
				if got := e.sink.String(); got != tt.want {
					t.Errorf("frames\n got %q\nwant %q", got, tt.want)
				}
				if e.reason != tt.reason {
					t.Errorf("reason = %q (%v), want %q", e.reason, e.err, tt.reason)
				}
				v := metrics.Values()
				if v.Replayed != tt.replayed || v.Sent != tt.sent || v.Active != 0 || v.Disconnects[tt.reason] != 1 {
					t.Errorf("metrics = %+v, want replayed %v, sent %v, active 0, one %s", v, tt.replayed, tt.sent, tt.reason)
				}
			})
		})
	}
}

func sleep(d time.Duration) func(*env) { return func(*env) { time.Sleep(d) } }

// TestOpen covers admission: the per-user limit and shutdown.
func TestOpen(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		lim := &limiter{max: 1}
		eng := resume.New(resume.Config{Source: &source{}, Limiter: lim})
		first, err := eng.Open(t.Context(), resume.Request{User: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Open(t.Context(), resume.Request{User: "alice"}); !errors.Is(err, resume.ErrTooManyStreams) {
			t.Fatalf("second stream: %v, want ErrTooManyStreams", err)
		}
		ctx, leave := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = first.Run(ctx, &sink{})
		}()
		synctest.Wait()
		leave()
		<-done
		if lim.open != 0 {
			t.Fatalf("%d slots held after the stream ended, want 0", lim.open)
		}
		second, err := eng.Open(t.Context(), resume.Request{User: "alice"})
		if err != nil {
			t.Fatalf("a stream after the first ended: %v", err)
		}

		shut := make(chan error, 1)
		go func() { shut <- eng.Shutdown(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a stream not yet ended", err)
		default:
		}
		if _, err := eng.Open(t.Context(), resume.Request{User: "bob"}); !errors.Is(err, resume.ErrShuttingDown) {
			t.Fatalf("a stream while draining: %v, want ErrShuttingDown", err)
		}
		second.Abort()
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if lim.open != 0 {
			t.Fatalf("%d slots held after Abort, want 0", lim.open)
		}
	})
}

// limiter allows max streams of alice (and any of others); open counts
// alice's.
type limiter struct {
	max, open int
}

func (l *limiter) Acquire(_ context.Context, user notify.UserID) (func(), bool) {
	if user != "alice" {
		return func() {}, true
	}
	if l.open >= l.max {
		return nil, false
	}
	l.open++
	return func() { l.open-- }, true
}
