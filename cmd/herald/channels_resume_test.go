package main_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestChannelResume: a stream of the inbox and two channels disconnects; 50
// notifications go to the user and 50 to each channel, and a producer goes
// on sending to all three while the client reconnects with its last id.
// The client gets exactly what it missed of each source, in order, with no
// duplicate, then the producer's later sends live; over raw-HTTP SSE and
// over the gRPC stream.
func TestChannelResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--public-channels=rooms/*"))
	for name, opener := range transports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			user := "rita-" + name
			testChannelResume(t, s, opener(s, token(t, user)), user, []string{"rooms/" + name + "-a", "rooms/" + name + "-b"})
		})
	}
}

func testChannelResume(t *testing.T, s *server, open chanOpener, user string, channels []string) {
	const (
		missed    = 50  // per source while the client is away
		after     = 10  // rounds the producer sends once the client is back
		maxRounds = 500 // rounds of the producer at most
	)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	nc := s.notifyClient(t)
	sources := append([]string{inboxSource}, channels...)
	sent := make(sequences)
	send := func(src string) error {
		n := sent[src] + 1
		if err := publishTo(ctx, nc, user, src, n); err != nil {
			return err
		}
		sent[src] = n
		return nil
	}

	// One event of each source, so that the cursor holds all three.
	st := open(t, channels, "")
	got := make(sequences)
	var cursor string
	for _, src := range sources {
		if err := send(src); err != nil {
			t.Fatal(err)
		}
	}
	for range sources {
		ev, err := st.next(10 * time.Second)
		if err != nil {
			t.Fatalf("first events: %v", err)
		}
		if err := got.take(ev); err != nil {
			t.Fatal(err)
		}
		cursor = ev.Cursor
	}
	st.close()

	for range missed {
		for _, src := range sources {
			if err := send(src); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The producer goes on, round after round, while the client
	// reconnects, and for a few rounds after the stream is back.
	started, back, stopped := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var (
		prodErr  error
		rounds   int
		progress atomic.Int32 // notifications sent, for the log
	)
	go func() {
		defer close(stopped)
		stopAt := maxRounds
		for rounds = 0; rounds < stopAt; rounds++ {
			for _, src := range sources {
				if prodErr = send(src); prodErr != nil {
					return
				}
				progress.Add(1)
			}
			if rounds == 2 {
				close(started)
			}
			select {
			case <-back:
				stopAt = min(stopAt, rounds+after)
			default:
			}
		}
	}()
	select {
	case <-started:
	case <-stopped:
	}
	reconnect, before := time.Now(), progress.Load()
	st = open(t, channels, cursor)
	live, during := time.Since(reconnect), progress.Load()-before
	close(back)
	<-stopped
	if prodErr != nil {
		t.Fatalf("producer: %v", prodErr)
	}
	if rounds == maxRounds {
		t.Fatalf("the producer sent %d rounds and the stream was not back yet", rounds)
	}
	// One notification to the user and both channels: each source's last,
	// so that the client knows when it has everything.
	final := make(map[string]int, len(sources))
	for _, src := range sources {
		final[src] = sent[src] + 1
	}
	if err := publish(ctx, nc, "last", []string{user}, channels); err != nil {
		t.Fatal(err)
	}
	for _, src := range sources {
		sent[src]++
	}
	done := 0
	for i := 0; done < len(sources); i++ {
		if i > 3*(maxRounds+missed+2) {
			t.Fatalf("%d events and the last notification not seen on every source", i)
		}
		ev, err := st.next(15 * time.Second)
		if err != nil {
			t.Fatalf("after %v of the resumed stream (got %v, sent %v): %v", time.Since(reconnect), got, sent, err)
		}
		if ev.Title == "last" && !ev.Reset {
			ev.Title = seqTitle(ev.Source, final[ev.Source])
			done++
		}
		if err := got.take(ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Cursor) > 512 {
			t.Errorf("cursor of %d bytes: %s", len(ev.Cursor), ev.Cursor)
		}
	}
	total := time.Since(reconnect)
	for _, src := range sources {
		if got[src] != final[src] {
			t.Errorf("%s: got through #%d, want #%d", src, got[src], final[src])
		}
	}
	// Nothing else was pending: the next events are ones sent now.
	for _, src := range sources {
		if err := send(src); err != nil {
			t.Fatal(err)
		}
		ev, err := st.next(10 * time.Second)
		if err != nil {
			t.Fatalf("live after the replay: %v", err)
		}
		if err := got.take(ev); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d missed per source, then %d rounds of the producer: %d notifications before the reconnect, %d while it opened (live after %v), the rest after; every source caught up in %v; resumed from %q",
		missed, rounds, before, during, live.Round(time.Millisecond), total.Round(time.Millisecond), cursor)
}

// TestChannelHistoryReset: with --channel-history 10, a client that missed
// 30 events of one channel gets exactly one reset naming that channel and
// none of its stale events, while the inbox and the other channel resume
// exactly; the channel then goes on live. The history keeps the newest 10.
func TestChannelHistoryReset(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--public-channels=rooms/*", "--channel-history=10"))
	for name, opener := range transports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			user := "rhea-" + name
			tok := token(t, user)
			full, kept := "rooms/"+name+"-full", "rooms/"+name+"-kept"
			testChannelHistoryReset(t, s, opener(s, tok), tok, user, full, kept)
		})
	}
}

func testChannelHistoryReset(t *testing.T, s *server, open chanOpener, tok, user, full, kept string) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nc := s.notifyClient(t)
	channels := []string{full, kept}
	sent := make(sequences)
	send := func(src string, n int) {
		t.Helper()
		for range n {
			if err := publishTo(ctx, nc, user, src, sent[src]+1); err != nil {
				t.Fatal(err)
			}
			sent[src]++
		}
	}

	st := open(t, channels, "")
	got := make(sequences)
	var cursor string
	for _, src := range []string{inboxSource, full, kept} {
		send(src, 1)
		ev, err := st.next(10 * time.Second)
		if err != nil {
			t.Fatalf("first events: %v", err)
		}
		if err := got.take(ev); err != nil {
			t.Fatal(err)
		}
		cursor = ev.Cursor
	}
	st.close()

	send(full, 30)
	send(inboxSource, 5)
	send(kept, 5)

	st = open(t, channels, cursor)
	var resets []chanEvent
	for i := 0; got[inboxSource] < sent[inboxSource] || got[kept] < sent[kept] || len(resets) == 0; i++ {
		if i > 100 {
			t.Fatalf("100 messages and not caught up: got %v, sent %v, resets %v", got, sent, resets)
		}
		ev, err := st.next(10 * time.Second)
		if err != nil {
			t.Fatalf("resumed stream (got %v, resets %v): %v", got, resets, err)
		}
		if ev.Reset {
			resets = append(resets, ev)
			continue
		}
		if ev.Source == full {
			t.Fatalf("%s event %q replayed though its history no longer reaches the cursor", full, ev.Title)
		}
		if err := got.take(ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(resets) != 1 || resets[0].Source != full {
		t.Fatalf("resets %+v, want one of %s", resets, full)
	}
	// After the reset the channel goes on live from its newest event, and
	// nothing else was pending.
	got[full] = sent[full]
	for _, src := range []string{full, inboxSource, kept} {
		send(src, 1)
		ev, err := st.next(10 * time.Second)
		if err != nil {
			t.Fatalf("live after the reset: %v", err)
		}
		if err := got.take(ev); err != nil {
			t.Fatal(err)
		}
	}

	// The history holds the newest 10 of the channel's 32 events.
	var page struct {
		Events []struct {
			Title string `json:"title"`
		} `json:"events"`
	}
	code, body := restCall(t, s, http.MethodGet, "/v1/channels/"+full+"/events?limit=100",
		map[string]string{"Authorization": "Bearer " + tok}, nil, &page)
	if code != http.StatusOK {
		t.Fatalf("history of %s: %d %s", full, code, body)
	}
	var titles []string
	for _, e := range page.Events {
		titles = append(titles, e.Title)
	}
	var want []string
	for n := sent[full] - 9; n <= sent[full]; n++ {
		want = append(want, seqTitle(full, n))
	}
	if fmt.Sprint(titles) != fmt.Sprint(want) {
		t.Errorf("history of %s: %v, want %v", full, titles, want)
	}
}
