package main_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestKill9KeepsAcknowledged kills the server with SIGKILL while producers
// are sending: after a restart on the same data directory every
// acknowledged notification is there exactly once, and a client resuming
// from the last event it saw gets the rest without repeats.
func TestKill9KeepsAcknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, withDataDir(dir))
	c := s.notifyClient(t)
	st := s.streamFor(t, "kim", "")

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	const producers, killAfter = 4, 200
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := 0; i < 10000; i++ {
				title := fmt.Sprintf("p%d-%05d", p, i)
				if _, err := notifyUser(ctx, c, "kim", title); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[title] = true
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() { s.Kill(); close(killed) })
				}
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("producers did not reach the kill point")
	}
	wg.Wait()

	// What the live stream saw before the kill.
	seen := map[string]int{}
	lastCursor := ""
	var prev uint64
	record := func(ev event, p payload) {
		seen[p.Title]++
		cur, err := strconv.ParseUint(ev.ID, 10, 64)
		if err != nil || cur <= prev {
			t.Errorf("cursor %q after %d: not strictly increasing", ev.ID, prev)
		}
		prev, lastCursor = cur, ev.ID
	}
	for i := 0; i < 100000; i++ {
		ev, p, err := st.NextNotification(5 * time.Second)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("live stream ended with %v", err)
			}
			break
		}
		record(ev, p)
	}

	s2 := startServer(t, withDataDir(dir))
	c2 := s2.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := notifyUser(ctx, c2, "kim", "sentinel"); err != nil {
		t.Fatal(err)
	}
	resumed := s2.streamFor(t, "kim", lastCursor)
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("no sentinel")
		}
		ev, p, err := resumed.NextNotification(10 * time.Second)
		if err != nil {
			t.Fatalf("resumed stream: %v", err)
		}
		if p.Title == "sentinel" {
			break
		}
		record(ev, p)
	}

	mu.Lock()
	defer mu.Unlock()
	for title := range acked {
		if seen[title] != 1 {
			t.Errorf("acknowledged %s delivered %d times", title, seen[title])
		}
	}
	for title, n := range seen {
		if n > 1 {
			t.Errorf("%s delivered %d times", title, n)
		}
	}
	t.Logf("acknowledged %d, delivered %d (live until the kill, then resumed)", len(acked), len(seen))

	// A full replay from the start agrees.
	full := s2.streamFor(t, "kim", "0")
	count := map[string]int{}
	for i := 0; i < 100000; i++ {
		_, p, err := full.NextNotification(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if p.Title == "sentinel" {
			break
		}
		count[p.Title]++
	}
	for title := range acked {
		if count[title] != 1 {
			t.Errorf("replay from 0: %s stored %d times", title, count[title])
		}
	}
}

// TestGracefulRestartDrainsStreams: SIGTERM ends every stream with a final
// shutdown event and a retry, and nothing acknowledged is lost.
func TestGracefulRestartDrainsStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, withDataDir(dir))
	c := s.notifyClient(t)
	st := s.streamFor(t, "liam", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := notifyUser(ctx, c, "liam", "before"); err != nil {
		t.Fatal(err)
	}
	ev, _, err := st.NextNotification(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	sawShutdown := false
	for i := 0; i < 100; i++ {
		e, err := st.Next(5 * time.Second)
		if err != nil {
			break
		}
		if e.Event == "shutdown" {
			sawShutdown = true
		}
	}
	if !sawShutdown {
		t.Error("no shutdown event before the stream closed")
	}
	if st.Retry == "" || st.Retry == "200" {
		t.Errorf("final retry %q, want a jittered value", st.Retry)
	}

	s2 := startServer(t, withDataDir(dir))
	if _, err := notifyUser(ctx, s2.notifyClient(t), "liam", "after"); err != nil {
		t.Fatal(err)
	}
	st2 := s2.streamFor(t, "liam", ev.ID)
	if _, p, err := st2.NextNotification(5 * time.Second); err != nil || p.Title != "after" {
		t.Fatalf("after restart: %+v %v", p, err)
	}
	resp, err := http.Get(s2.URL("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz after restart = %d", resp.StatusCode)
	}
}
