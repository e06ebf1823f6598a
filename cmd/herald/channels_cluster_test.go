package main_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// TestChannelCluster: three nodes on one Redis (and on a Redis Cluster). A
// channel publish through node 1 reaches listeners on nodes 2 and 3, SSE
// and gRPC; a listener of the inbox and two channels on node 2 resumes on
// node 3 with node 2's cursor and gets exactly what it missed, then live
// events published through node 1.
func TestChannelCluster(t *testing.T) {
	t.Parallel()
	onTopologies(t, testChannelCluster)
}

func testChannelCluster(t *testing.T, rt *redisTopology) {
	prefix := clusterPrefix(t, rt.client)
	nodes := startCluster(t, rt, 3, prefix, "--public-channels=rooms/*")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nc := nodes[0].notifyClient(t)
	const room = "rooms/lobby"

	tok := token(t, "cleo")
	listeners := map[string]chanReader{
		"node 2 SSE":  sseOpener(nodes[1], tok)(t, []string{room}, ""),
		"node 3 SSE":  sseOpener(nodes[2], tok)(t, []string{room}, ""),
		"node 3 gRPC": grpcOpener(nodes[2], tok)(t, []string{room}, ""),
	}
	// Each stream waits for the bus before it answers; this shows it did.
	waitSubscribed(t, rt.client, prefix, 2, string(notify.Channel(room).Key()))
	for n := 1; n <= 5; n++ {
		if err := publishTo(ctx, nc, "", room, n); err != nil {
			t.Fatal(err)
		}
	}
	for name, r := range listeners {
		got := make(sequences)
		for got[room] < 5 {
			ev, err := r.next(10 * time.Second)
			if err != nil {
				t.Fatalf("%s: %v (got %v)", name, err, got)
			}
			if err := got.take(ev); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		r.close()
	}

	// Resume on another node.
	user := "cora"
	channels := []string{"rooms/a", "rooms/b"}
	sources := append([]string{inboxSource}, channels...)
	sent, got := make(sequences), make(sequences)
	send := func(src string, k int) {
		t.Helper()
		for range k {
			if err := publishTo(ctx, nc, user, src, sent[src]+1); err != nil {
				t.Fatal(err)
			}
			sent[src]++
		}
	}
	var cursor string // the last event's
	receive := func(r chanReader, where string) {
		t.Helper()
		for i := 0; got[inboxSource] < sent[inboxSource] || got["rooms/a"] < sent["rooms/a"] || got["rooms/b"] < sent["rooms/b"]; i++ {
			if i > 200 {
				t.Fatalf("%s: 200 events and not caught up: got %v, sent %v", where, got, sent)
			}
			ev, err := r.next(10 * time.Second)
			if err != nil {
				t.Fatalf("%s: %v (got %v, sent %v)", where, err, got, sent)
			}
			if err := got.take(ev); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			cursor = ev.Cursor
		}
	}
	utok := token(t, user)
	r := sseOpener(nodes[1], utok)(t, channels, "")
	for _, src := range sources {
		send(src, 3)
	}
	receive(r, "node 2")
	r.close()

	for _, src := range sources {
		send(src, 20)
	}
	start := time.Now()
	r = sseOpener(nodes[2], utok)(t, channels, cursor)
	from := cursor
	receive(r, "node 3 resumed")
	replay := time.Since(start)
	for _, src := range sources {
		send(src, 2)
	}
	receive(r, "node 3 live")
	t.Logf("%s: resumed on node 3 from node 2's cursor %q: 60 missed events in %v", rt.name, from, replay.Round(time.Millisecond))

	// The gRPC stream resumes on node 1 from the SSE stream's cursor.
	r.close()
	for _, src := range sources {
		send(src, 5)
	}
	r = grpcOpener(nodes[0], utok)(t, channels, cursor)
	receive(r, "node 1 gRPC resumed")
	r.close()
}
