package bus

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/backoff"
	"github.com/heraldhq/herald/internal/notify"
)

// shards is the subscriber side of the bus on Redis Cluster: sharded
// pub/sub (SSUBSCRIBE, SPUBLISH), so that a message travels only within the
// shard that serves its channel's slot, which is the slot of the user's
// data. A sharded subscription lives on the master of its slot, so the bus
// holds one subscription connection per master it has users on.
//
// go-redis re-subscribes a lost connection by itself with one SSUBSCRIBE of
// every channel it had, which a cluster refuses (CROSSSLOT) when they span
// slots, and always to the same address, which after a failover is the old
// master. So a shard that fails is dropped instead, and its users are
// subscribed again, each on the master that now serves it; the same for a
// channel whose slot moved (Redis tells with an SUNSUBSCRIBE of its own).
type shards struct {
	b  *Bus
	cc *redis.ClusterClient

	mu     sync.Mutex
	byAddr map[string]*shard
	where  map[string]*shard // channel → the shard it is subscribed on
	retry  backoff.Backoff   // between rounds that failed to subscribe
	timer  *time.Timer       // the pending retry round, if any
	closed bool
}

type shard struct {
	addr   string
	ps     *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{}
}

func newShards(b *Bus, cc *redis.ClusterClient) *shards {
	return &shards{
		b:      b,
		cc:     cc,
		byAddr: make(map[string]*shard),
		where:  make(map[string]*shard),
		retry:  backoff.Backoff{Min: 100 * time.Millisecond, Max: maxBackoff},
	}
}

// subscribe subscribes each channel on the master of its slot. A channel
// that fails is given back to the watch loop after a pause: its user's live
// channel stays open, so the loop subscribes it again. After one failure
// on a master, the rest of its channels wait for the next round untried:
// each try of a dead master costs a dial.
func (s *shards) subscribe(channels []string) {
	if len(channels) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var (
		failed  []string
		lastErr error
		order   []*shard
		byShard = make(map[*shard][]string)
	)
	for _, ch := range channels {
		sh, err := s.shardFor(ctx, ch)
		if err != nil {
			failed, lastErr = append(failed, ch), err
			continue
		}
		if byShard[sh] == nil {
			order = append(order, sh)
		}
		byShard[sh] = append(byShard[sh], ch)
	}
	for _, sh := range order {
		chans := byShard[sh]
		for i, ch := range chans {
			// One command per channel: SSUBSCRIBE takes channels of one
			// slot only, and users rarely share one.
			if err := sh.ps.SSubscribe(ctx, ch); err != nil {
				failed, lastErr = append(failed, chans[i:]...), err
				break
			}
			s.mu.Lock()
			s.where[ch] = sh
			s.mu.Unlock()
		}
	}
	if len(failed) > 0 {
		// The slot map may be stale (a failover, a resharding): ask the
		// cluster again before the retry.
		s.cc.ReloadState(ctx)
		s.b.m.receiveErrors.Inc()
		s.b.log.Debug("bus: sharded subscribe failed", "channels", len(failed), "error", lastErr)
		s.b.warn("bus: sharded subscribe failed; retrying", "channels", len(failed), "error", lastErr)
		s.again(failed, true)
		return
	}
	s.mu.Lock()
	s.retry.Reset()
	s.mu.Unlock()
}

// unsubscribe unsubscribes each channel on the shard that has it.
func (s *shards) unsubscribe(channels []string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for _, ch := range channels {
		s.mu.Lock()
		sh := s.where[ch]
		delete(s.where, ch)
		s.mu.Unlock()
		if sh == nil {
			continue
		}
		// A failure leaves the channel subscribed on a connection that
		// is dropped with its shard at the next error; messages for a
		// user without local streams are ignored by the hub.
		_ = sh.ps.SUnsubscribe(ctx, ch)
	}
}

// shardFor returns the subscription of the master serving ch's slot,
// opening it if needed.
func (s *shards) shardFor(ctx context.Context, ch string) (*shard, error) {
	node, err := s.cc.MasterForKey(ctx, ch)
	if err != nil {
		return nil, err
	}
	addr := node.Options().Addr
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, redis.ErrClosed
	}
	if sh := s.byAddr[addr]; sh != nil {
		return sh, nil
	}
	rctx, cancel := context.WithCancel(context.Background())
	sh := &shard{addr: addr, ps: node.SSubscribe(ctx), cancel: cancel, done: make(chan struct{})}
	s.byAddr[addr] = sh
	go s.receive(rctx, sh)
	return sh, nil
}

// receive reads one shard's connection until it fails or the bus closes.
func (s *shards) receive(ctx context.Context, sh *shard) {
	defer close(sh.done)
	for {
		msg, err := sh.ps.ReceiveTimeout(ctx, receiveTimeout)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = sh.ps.Ping(ctx)
				continue
			}
			s.b.m.receiveErrors.Inc()
			s.b.warn("bus: shard subscription lost; subscribing its users again", "addr", sh.addr, "error", err)
			s.drop(sh)
			return
		}
		if sub, ok := msg.(*redis.Subscription); ok && sub.Kind == "sunsubscribe" {
			s.moved(sh, sub.Channel)
			continue
		}
		s.b.handle(msg)
	}
}

// moved handles an SUNSUBSCRIBE: one the bus sent, or one Redis sent
// because the channel's slot left this master; a channel still wanted is
// subscribed again wherever its slot is now.
func (s *shards) moved(sh *shard, ch string) {
	s.mu.Lock()
	ours := s.where[ch] == sh
	if ours {
		delete(s.where, ch)
	}
	s.mu.Unlock()
	if ours {
		s.again([]string{ch}, false)
	}
}

// drop closes a failed shard and hands its channels back to be subscribed
// again.
func (s *shards) drop(sh *shard) {
	s.mu.Lock()
	if s.byAddr[sh.addr] == sh {
		delete(s.byAddr, sh.addr)
	}
	var lost []string
	for ch, on := range s.where {
		if on == sh {
			lost = append(lost, ch)
			delete(s.where, ch)
		}
	}
	s.mu.Unlock()
	_ = sh.ps.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	s.cc.ReloadState(ctx)
	cancel()
	s.again(lost, true)
}

// again makes the watch loop subscribe the users of channels again: their
// live channels are opened anew, so that new streams wait for the new
// subscription, and the loop is kicked, after a pause when Redis failed.
func (s *shards) again(channels []string, pause bool) {
	b := s.b
	b.mu.Lock()
	for _, ch := range channels {
		u, ok := b.userOf(ch)
		if !ok || b.counts[u] == 0 {
			continue
		}
		if isClosed(b.live[u]) {
			b.live[u] = make(chan struct{})
			b.relive[u] = struct{}{}
		}
		b.pending[u] = struct{}{}
	}
	b.mu.Unlock()
	if !pause {
		b.poke()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.timer != nil {
		return
	}
	s.timer = time.AfterFunc(s.retry.Next(), func() {
		s.mu.Lock()
		s.timer = nil
		s.mu.Unlock()
		b.poke()
	})
}

// close ends every shard's subscription.
func (s *shards) close() error {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	all := make([]*shard, 0, len(s.byAddr))
	for _, sh := range s.byAddr {
		all = append(all, sh)
	}
	clear(s.byAddr)
	s.mu.Unlock()
	var errs []error
	for _, sh := range all {
		sh.cancel()
		if err := sh.ps.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			errs = append(errs, err)
		}
		<-sh.done
	}
	return errors.Join(errs...)
}

// userOf is the user of a bus channel.
func (b *Bus) userOf(channel string) (notify.UserID, bool) {
	return parseChannel(b.prefix, channel)
}
