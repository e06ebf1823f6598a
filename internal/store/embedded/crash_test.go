package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

const crashDirEnv = "HERALD_STORE_CRASH_DIR"

// crashOpts keeps every entry: the child may append far more than the
// parent reads before the kill.
var crashOpts = embedded.Options{RetentionCount: 1 << 30}

// TestCrashChild is the process TestKillNineLosesNothing kills: it appends
// and prints each acknowledged ID, until killed (or a bound is reached).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestKillNineLosesNothing")
	}
	s, err := embedded.Open(dir, crashOpts)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		n := &notify.Notification{ID: fmt.Sprint("crash-", i), Title: "t", IdempotencyKey: fmt.Sprint("svc/crash-", i)}
		if _, err := s.Append(context.Background(), []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "victim"}}}}); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		fmt.Println("acked", n.ID)
	}
	os.Exit(0) // never Close: the parent kills us first
}

// TestKillNineLosesNothing kills a process appending to the store with
// SIGKILL: every append it acknowledged must be there after reopening,
// cursors must go on, and the idempotency keys must be remembered.
func TestKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	// Kill mid-stream: appends are still in flight.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d appends before it stopped", len(acked))
	}

	s := openT(t, dir, crashOpts)
	stored := map[string]bool{}
	for _, id := range readIDs(t, s, "victim", 0) {
		stored[id] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged %s lost by kill -9 (%d stored)", id, len(stored))
		}
	}
	n := &notify.Notification{ID: "retry", IdempotencyKey: "svc/" + acked[0]}
	res, err := s.Append(t.Context(), []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "victim"}}}})
	if err != nil || !res[0].Duplicate || res[0].ID != acked[0] {
		t.Errorf("retry of %s after the crash = %+v, %v; want a duplicate", acked[0], res, err)
	}
}
