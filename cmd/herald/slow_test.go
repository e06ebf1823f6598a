package main_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// TestSlowClientDoesNotDelayOthers: one stream that never reads gets
// disconnected when its queue fills, 1,000 other streams keep receiving,
// server memory stays bounded, and the slow client can resume.
func TestSlowClientDoesNotDelayOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,001 streams")
	}
	t.Parallel()
	s := startServer(t, withArgs("--stream-queue=16", "--max-body-bytes=65536"))
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	slow := s.streamFor(t, "slow", "") // never read until the end
	const others = 1000
	users := make([]string, others)
	streams := make([]*rawStream, others)
	for i := range users {
		users[i] = fmt.Sprintf("fast-%04d", i)
		streams[i] = s.streamFor(t, users[i], "")
	}

	// Flood the slow user with large notifications so that its socket
	// buffers and then its queue fill, while the others get small ones.
	big := strings.Repeat("x", 60000)
	floodDone := make(chan error, 1)
	go func() {
		for i := 0; i < 400; i++ {
			_, err := c.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
				Audience: &heraldv1.Audience{UserIds: []string{"slow"}},
				Title:    fmt.Sprintf("big-%03d", i),
				Body:     big,
			}})
			if err != nil {
				floodDone <- err
				return
			}
		}
		floodDone <- nil
	}()

	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, others)
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				_, p, err := st.NextNotification(20 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", users[i], r, err)
					return
				}
				if want := fmt.Sprintf("round-%02d", r); p.Title != want {
					errs <- fmt.Errorf("%s got %q, want %q", users[i], p.Title, want)
					return
				}
			}
		}()
	}
	for r := 0; r < rounds; r++ {
		if _, err := c.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
			Audience: &heraldv1.Audience{UserIds: users},
			Title:    fmt.Sprintf("round-%02d", r),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-floodDone; err != nil {
		t.Fatalf("flood: %v", err)
	}

	// Bounded memory: the server did not buffer the slow client's backlog.
	if rss := serverRSS(t, s); rss > 400<<20 {
		t.Errorf("server RSS %d MiB after the flood", rss>>20)
	}

	// The slow client was cut off: draining what the kernel buffered ends in
	// EOF well before all 400 arrive.
	var last string
	n := 0
	for i := 0; i < 1000; i++ {
		ev, err := slow.Next(20 * time.Second)
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("slow stream: %v, want EOF from the server", err)
			}
			break
		}
		if ev.Event == "notification" {
			n++
			last = ev.ID
		}
	}
	if n >= 400 {
		t.Fatalf("slow client got all %d events; it was never disconnected", n)
	}
	// ...and resumes from its cursor with the rest, in order.
	resumed := s.streamFor(t, "slow", last)
	for i := n; i < 400; i++ {
		_, p, err := resumed.NextNotification(10 * time.Second)
		if err != nil {
			t.Fatalf("resume at %d: %v", i, err)
		}
		if want := fmt.Sprintf("big-%03d", i); p.Title != want {
			t.Fatalf("resumed %q, want %q", p.Title, want)
		}
	}
}
