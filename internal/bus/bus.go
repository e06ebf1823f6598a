// Package bus tells the nodes of a cluster that a user has new inbox
// entries, over Redis pub/sub.
//
// The node whose store commits entries publishes them on one channel per
// user; every node with a live stream of that user is subscribed to the
// channel and hands what it receives to its local hub. A node subscribes to
// a user's channel on the user's first local stream and unsubscribes after
// the last one, so the traffic a node receives follows its connections.
//
// Pub/sub delivers at most once: a message published while a node is
// reconnecting, or dropped because the publish queue was full, is lost. The
// store is the source of truth, and streams notice the hole by cursor: the
// next entry of the user that arrives carries a cursor beyond last+1, and the
// stream reads the missing entries from the store first (gap fill). When a
// subscription comes back after it was lost (a reconnect, a failover), the
// bus does not wait for the user's next entry: it hands the user's newest
// entries from the store (RecoverWith) to the local hub, and streams that
// missed anything fill the gap up to them, or notice a cursor reused after
// a failover lost writes.
//
// On Redis Cluster the bus uses sharded pub/sub (sharded.go): a user's
// channel carries the user's hash tag, so SPUBLISH sends it only within
// the shard that holds the user's inbox, where a classic PUBLISH would be
// copied to every node of the cluster.
package bus

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/backoff"
	"github.com/heraldhq/herald/internal/notify"
)

// Publisher receives the entries a node gets from the bus; *hub.Hub
// implements it.
type Publisher interface {
	Publish(entries []notify.Entry)
}

// Tuning. They are constants rather than options: none of them changes what
// a client sees, only how the bus batches its work.
const (
	publishQueue   = 1024             // batches of entries waiting to be published
	publishBatch   = 64               // batches merged into one pipeline
	commandTimeout = 3 * time.Second  // bound of one pipeline or (un)subscribe
	receiveTimeout = 5 * time.Second  // silence after which the subscriber pings
	subscribeChunk = 512              // channels per SUBSCRIBE/UNSUBSCRIBE command
	maxBackoff     = 2 * time.Second  // between failing reads of a lost connection
	logEvery       = 10 * time.Second // at most one warning of a kind in this time
)

// Bus is one node's end of the cluster bus. It is safe for concurrent use.
type Bus struct {
	rdb    redis.UniversalClient
	prefix string
	local  Publisher
	log    *slog.Logger
	m      *metrics

	out    chan []notify.Entry
	closed atomic.Bool

	mu      sync.Mutex
	counts  map[notify.UserID]int // OnFirst minus OnLast calls, by user
	pending map[notify.UserID]struct{}
	// live holds, for each watched user, a channel closed once Redis
	// confirmed the subscription to the user's channel: from then on every
	// entry published for the user reaches this node.
	live map[notify.UserID]chan struct{}
	kick chan struct{}
	// relive holds users whose subscription was lost while they were
	// live, and recover those confirmed again since, for the recovery
	// loop.
	relive  map[notify.UserID]struct{}
	recover map[notify.UserID]struct{}
	rekick  chan struct{}
	recent  atomic.Pointer[RecentFunc]

	ps      *redis.PubSub // classic pub/sub: one connection for every channel
	sharded *shards       // Redis Cluster: sharded pub/sub, one connection per master
	stop    chan struct{}
	wg      sync.WaitGroup

	lastWarn atomic.Int64 // unix nanoseconds of the last rate-limited warning
}

// New starts a bus on client whose channels are named under prefix (the
// deployment's key prefix, such as "herald:"), handing what it receives to
// local. reg may be nil. Close stops it.
func New(client redis.UniversalClient, prefix string, local Publisher, log *slog.Logger, reg prometheus.Registerer) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		rdb:     client,
		prefix:  prefix,
		local:   local,
		log:     log,
		m:       newMetrics(reg, log),
		out:     make(chan []notify.Entry, publishQueue),
		counts:  make(map[notify.UserID]int),
		pending: make(map[notify.UserID]struct{}),
		live:    make(map[notify.UserID]chan struct{}),
		kick:    make(chan struct{}, 1),
		relive:  make(map[notify.UserID]struct{}),
		recover: make(map[notify.UserID]struct{}),
		rekick:  make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		b.sharded = newShards(b, cc)
		b.wg.Add(3)
	} else {
		// A PubSub with no channel yet opens no connection until the
		// first SUBSCRIBE; from then on go-redis re-subscribes on every
		// reconnect.
		b.ps = client.Subscribe(context.Background())
		b.wg.Add(4)
		go b.receiveLoop()
	}
	go b.publishLoop()
	go b.watchLoop()
	go b.recoverLoop()
	return b
}

// channel is the pub/sub channel of user. The user ID is encoded so that
// any ID is safe inside the hash tag, which keeps a user's channel in the
// user's slot under Redis Cluster.
func (b *Bus) channel(user notify.UserID) string {
	return b.prefix + "bus:{u:" + base64.RawURLEncoding.EncodeToString([]byte(user)) + "}"
}

// Publish queues entries for the other nodes. It never blocks: with the
// queue full (Redis slow or away) the entries are dropped and counted, and
// remote streams recover them by gap fill. It has the signature of
// store.CommitHook and serves as rpc.Publisher for read events. The caller
// must not modify entries afterwards.
func (b *Bus) Publish(entries []notify.Entry) {
	if len(entries) == 0 {
		return
	}
	if b.closed.Load() {
		b.m.dropped.Add(float64(len(entries)))
		return
	}
	select {
	case b.out <- entries:
	default:
		b.m.dropped.Add(float64(len(entries)))
		b.warn("bus: publish queue full, dropping entries", "entries", len(entries))
	}
}

// Watch counts a local stream of user starting (the hub's first
// subscription of the user); the bus subscribes to the user's channel soon
// after, from its own goroutine. It never blocks.
func (b *Bus) Watch(user notify.UserID) { b.change(user, 1) }

// Unwatch counts the end of what Watch counted; the bus unsubscribes when
// the count is back at zero.
func (b *Bus) Unwatch(user notify.UserID) { b.change(user, -1) }

// WaitLive blocks until entries published for user reach this node, that
// is until Redis confirmed the subscription that the user's first local
// stream asked for, or ctx ends. A stream calls it before it tells its
// client it is live, so that nothing committed afterwards can miss it.
func (b *Bus) WaitLive(ctx context.Context, user notify.UserID) error {
	b.mu.Lock()
	ch := b.live[user]
	b.mu.Unlock()
	if ch == nil {
		return nil // not watched: nothing to wait for
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Bus) change(user notify.UserID, d int) {
	b.mu.Lock()
	n := b.counts[user] + d
	if n == 0 {
		delete(b.counts, user)
		delete(b.live, user)
		delete(b.relive, user)
	} else {
		b.counts[user] = n
		if b.live[user] == nil {
			b.live[user] = make(chan struct{})
		}
	}
	b.pending[user] = struct{}{}
	b.mu.Unlock()
	b.poke()
}

// poke wakes the watch loop.
func (b *Bus) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Close publishes what is queued (within a bound), unsubscribes and stops.
// Call it after the streams and the writers are gone, before the store and
// the Redis client close.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.stop)
	var err error
	if b.sharded != nil {
		err = b.sharded.close()
	} else {
		// Closing the PubSub ends the subscriber's blocking read at once.
		err = b.ps.Close()
	}
	b.wg.Wait()
	if err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}

// publishLoop sends queued entries, a pipeline of PUBLISH commands per
// round: one message per user and round, in the order the entries came.
func (b *Bus) publishLoop() {
	defer b.wg.Done()
	var batches [][]notify.Entry
	for {
		batches = batches[:0]
		select {
		case es := <-b.out:
			batches = append(batches, es)
		case <-b.stop:
			b.drain()
			return
		}
	more:
		for len(batches) < publishBatch {
			select {
			case es := <-b.out:
				batches = append(batches, es)
			default:
				break more
			}
		}
		b.send(batches)
	}
}

// drain publishes what is still queued when the bus closes.
func (b *Bus) drain() {
	for {
		var batches [][]notify.Entry
		for len(batches) < publishBatch {
			select {
			case es := <-b.out:
				batches = append(batches, es)
			default:
				if len(batches) > 0 {
					b.send(batches)
				}
				return
			}
		}
		b.send(batches)
	}
}

func (b *Bus) send(batches [][]notify.Entry) {
	// One message per user, keeping each user's entries in order.
	type group struct {
		user    notify.UserID
		entries []notify.Entry
	}
	var groups []group
	index := make(map[notify.UserID]int)
	total := 0
	for _, es := range batches {
		for i := range es {
			total++
			k, ok := index[es[i].User]
			if !ok {
				k = len(groups)
				index[es[i].User] = k
				groups = append(groups, group{user: es[i].User})
			}
			groups[k].entries = append(groups[k].entries, es[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	pipe := b.rdb.Pipeline()
	for _, g := range groups {
		if b.sharded != nil {
			// Only the shard that serves the user's slot relays it; a
			// cluster copies a classic PUBLISH to every node.
			pipe.SPublish(ctx, b.channel(g.user), encode(nil, g.user, g.entries))
		} else {
			pipe.Publish(ctx, b.channel(g.user), encode(nil, g.user, g.entries))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if b.sharded != nil {
			// A dead master answers no MOVED, so go-redis would keep
			// its slots until its periodic reload: ask the cluster now.
			b.sharded.cc.ReloadState(ctx)
		}
		b.m.publishErrors.Inc()
		b.m.dropped.Add(float64(total))
		b.warn("bus: publish failed; remote streams catch up by gap fill", "entries", total, "error", err)
		return
	}
	b.m.published.Add(float64(total))
}

// watchLoop applies Watch and Unwatch: whatever changed since the last round
// becomes one SUBSCRIBE and one UNSUBSCRIBE, so a burst of connections costs
// a few commands and the hub's hot path never waits on Redis.
func (b *Bus) watchLoop() {
	defer b.wg.Done()
	subscribed := make(map[notify.UserID]struct{})
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		var sub, unsub []string
		b.mu.Lock()
		for u := range b.pending {
			_, on := subscribed[u]
			want := b.counts[u] > 0
			switch {
			// A user watched again before the unsubscribe went out waits
			// for a confirmation too; subscribing again yields one.
			case want && (!on || !isClosed(b.live[u])):
				subscribed[u] = struct{}{}
				sub = append(sub, b.channel(u))
			case !want && on:
				delete(subscribed, u)
				unsub = append(unsub, b.channel(u))
			}
		}
		clear(b.pending)
		b.mu.Unlock()
		b.m.watched.Set(float64(len(subscribed)))
		if b.sharded != nil {
			b.sharded.subscribe(sub)
			b.sharded.unsubscribe(unsub)
			continue
		}
		// go-redis records the channels even when the command fails and
		// re-subscribes them on its next connection, so an error here
		// needs no retry of ours.
		for c := range chunks(sub) {
			b.command(b.ps.Subscribe, c)
		}
		for c := range chunks(unsub) {
			b.command(b.ps.Unsubscribe, c)
		}
	}
}

func (b *Bus) command(f func(context.Context, ...string) error, channels []string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := f(ctx, channels...); err != nil && !b.closed.Load() {
		b.warn("bus: (un)subscribe failed; applied on reconnect", "channels", len(channels), "error", err)
	}
}

func chunks(s []string) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			n := min(len(s), subscribeChunk)
			if !yield(s[:n]) {
				return
			}
			s = s[n:]
		}
	}
}

// receiveLoop reads the subscription connection and hands each message's
// entries to the local hub. A read that fails makes go-redis reconnect and
// re-subscribe on the next one; whatever was published in between is lost
// to this node (see the package comment).
func (b *Bus) receiveLoop() {
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-b.stop
		cancel()
	}()
	retry := backoff.Backoff{Min: 50 * time.Millisecond, Max: maxBackoff}
	for {
		msg, err := b.ps.ReceiveTimeout(ctx, receiveTimeout)
		if b.closed.Load() {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Silence: a ping makes a dead connection show itself.
				_ = b.ps.Ping(ctx)
				continue
			}
			b.m.receiveErrors.Inc()
			b.warn("bus: subscription read failed; reconnecting", "error", err)
			if !retry.Wait(ctx) { // ctx ends with b.stop
				return
			}
			continue
		}
		retry.Reset()
		b.handle(msg)
	}
}

// handle takes one message of a subscription connection: a confirmed
// subscription, or entries for the local hub.
func (b *Bus) handle(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
			b.confirm(m.Channel)
		}
	case *redis.Message:
		entries, err := decode([]byte(m.Payload))
		if err != nil {
			b.m.decodeErrors.Inc()
			b.warn("bus: dropping undecodable message", "channel", m.Channel, "error", err)
			return
		}
		b.m.received.Add(float64(len(entries)))
		b.local.Publish(entries)
	}
}

// parseChannel is the user of a channel named by Bus.channel.
func parseChannel(prefix, channel string) (notify.UserID, bool) {
	enc, ok := strings.CutPrefix(channel, prefix+"bus:{u:")
	enc, ok2 := strings.CutSuffix(enc, "}")
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || !ok2 || err != nil {
		return "", false
	}
	return notify.UserID(raw), true
}

// confirm marks the user of channel live: Redis subscribed this node to it.
// A confirmation of a user who was live before (go-redis subscribed again
// after a reconnect, or the sharded bus after a failover) queues the user
// for recovery: what was published meanwhile never reached this node.
func (b *Bus) confirm(channel string) {
	user, ok := b.userOf(channel)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.live[user]
	if ch == nil {
		return // no longer watched
	}
	_, again := b.relive[user]
	if isClosed(ch) || again {
		delete(b.relive, user)
		b.recover[user] = struct{}{}
		select {
		case b.rekick <- struct{}{}:
		default:
		}
	}
	if !isClosed(ch) {
		close(ch)
	}
}

// RecentFunc returns a user's newest entries in the store, oldest first.
type RecentFunc func(ctx context.Context, user notify.UserID) ([]notify.Entry, error)

// RecoverWith sets how the bus finds a user's newest entries after a lost
// subscription came back; without it, streams notice what they missed only
// with the user's next entry. Call it before streams open.
func (b *Bus) RecoverWith(f RecentFunc) { b.recent.Store(&f) }

// recoverLoop hands the newest entries of each user whose subscription came
// back to the local hub: a stream drops those it has, reads from the store
// what it missed before them (gap fill), and resets on a cursor it sent
// with another notification (a failover that lost writes).
func (b *Bus) recoverLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.rekick:
		case <-b.stop:
			return
		}
		b.mu.Lock()
		users := make([]notify.UserID, 0, len(b.recover))
		for u := range b.recover {
			users = append(users, u)
		}
		clear(b.recover)
		b.mu.Unlock()
		f := b.recent.Load()
		if f == nil {
			continue
		}
		for _, u := range users {
			if b.closed.Load() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			es, err := (*f)(ctx, u)
			cancel()
			switch {
			case err != nil:
				b.m.recoverErrors.Inc()
				b.warn("bus: reading a user's newest entries after a resubscribe failed; their streams catch up with the next entry", "error", err)
			case len(es) > 0:
				b.m.recovered.Inc()
				b.local.Publish(es)
			}
		}
	}
}

func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// warn logs at most one warning per logEvery, so that Redis being away does
// not flood the log; the metrics count every occurrence.
func (b *Bus) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := b.lastWarn.Load()
	if now-last < int64(logEvery) || !b.lastWarn.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn(msg, args...)
}
