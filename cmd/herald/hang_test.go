package main_test

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// TestRedisHangBounded: while Redis hangs (SIGSTOP), Notify fails with
// UNAVAILABLE after --store-timeout instead of waiting out the hang,
// /readyz turns 503 without hanging itself, and once Redis resumes the node
// takes notifications again; a call that failed during the hang, retried
// under its idempotency key, is stored once.
func TestRedisHangBounded(t *testing.T) {
	t.Parallel()
	r := startOwnRedis(t)
	s := startServer(t, withArgs("--store=redis", "--redis-url=redis://"+r.addr+"/0", "--redis-prefix=herald-test-hang:", "--store-timeout=1s"))
	nc := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := notifyUser(ctx, nc, "hung", "before"); err != nil {
		t.Fatalf("Notify before the hang: %v", err)
	}

	pid := r.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	resume := func() {
		if stopped {
			stopped = false
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	start := time.Now()
	_, err := notifyKeyed(ctx, nc, "hung", "during", "hang-1")
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Notify while Redis hangs: %v, want UNAVAILABLE", err)
	}
	// The bound is --store-timeout (1 s); the slack is for a busy machine,
	// far below the hang's length, which is unbounded.
	if took > 5*time.Second {
		t.Errorf("Notify while Redis hangs took %v, want about --store-timeout (1s)", took)
	}
	t.Logf("Notify while Redis hangs: UNAVAILABLE after %v", took.Round(time.Millisecond))
	waitFor(t, 10*time.Second, func() bool {
		probe := time.Now()
		code := httpStatus(t, s.URL("/readyz"))
		if d := time.Since(probe); d > 2*time.Second {
			t.Errorf("/readyz took %v while Redis hangs", d)
		}
		return code == http.StatusServiceUnavailable
	}, func() string { return "readyz did not turn 503 while Redis hangs" })

	resume()
	waitFor(t, 20*time.Second, func() bool {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		defer ccancel()
		_, err := notifyKeyed(cctx, nc, "hung", "during", "hang-1")
		return err == nil
	}, func() string { return "Notify did not succeed after Redis resumed" })
	// The call that failed may have been stored after all (the script ran
	// once Redis woke up); its retry under the same key is not stored twice.
	page, err := s.inboxClient(t).ListInbox(asUser(t, ctx, "hung"), &heraldv1.ListInboxRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range page.GetEntries() {
		if e.GetEvent().GetTitle() == "during" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the notification retried under its key is stored %d times, want 1", n)
	}
}
