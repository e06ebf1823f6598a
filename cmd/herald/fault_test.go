package main_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/testenv"
)

// The fault suite: each case puts sustained Notify load from several
// callers on the server, breaks something, and checks that no
// acknowledgement was false: every acknowledged notification ends up in its
// recipient's inbox exactly once, and one whose outcome the caller never
// learned is there once after the caller retried it under its idempotency
// key. The other faults are covered elsewhere:
//   - Redis restarted under load in a cluster: TestClusterRedisRestart
//     (cluster_test.go): UNAVAILABLE while down, /readyz 503, recovery by
//     itself, exactly once, the stream resumes.
//   - A Kafka consumer killed mid-batch: TestKafkaCrashRedeliversOnce
//     (kafka_crash_test.go).
//   - A failing disk under the embedded store, write and fsync errors
//     injected through Pebble's file system: TestDiskFaultRecovers and
//     TestReadyProbesTheDisk (internal/store/embedded/fault_test.go).
//     TestFaultDiskFull below fills a real (tmpfs) disk under the binary.

// faultLoad is Notify load from several callers. Each notification goes to
// one user, carries an idempotency key and names its user in its title
// ("user|key"), so that an inbox can tell whose it is.
type faultLoad struct {
	users []string

	mu      sync.Mutex
	acked   map[string]string // idempotency key → user, acknowledged
	ackedID map[string]string // idempotency key → notification ID
	unknown map[string]string // key → user: the call failed, it may or may not be stored
	codes   map[codes.Code]int
	total   int
}

func newFaultLoad(users ...string) *faultLoad {
	return &faultLoad{
		users:   users,
		acked:   map[string]string{},
		ackedID: map[string]string{},
		unknown: map[string]string{},
		codes:   map[codes.Code]int{},
	}
}

func (l *faultLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// send sends key's notification to user through c and records the outcome.
func (l *faultLoad) send(ctx context.Context, c heraldv1.NotifyServiceClient, user, key string) error {
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := notifyKeyed(callCtx, c, user, user+"|"+key, key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.codes[status.Code(err)]++
		if _, ok := l.acked[key]; !ok {
			l.unknown[key] = user
		}
		return err
	}
	if id, ok := l.ackedID[key]; ok && id != r.GetId() {
		return fmt.Errorf("key %s acknowledged as %s, then as %s", key, id, r.GetId())
	}
	if _, ok := l.acked[key]; !ok {
		l.total++
	}
	delete(l.unknown, key)
	l.acked[key], l.ackedID[key] = user, r.GetId()
	return nil
}

// run sends from callers goroutines until stop closes or a caller meets an
// error it does not retry. target(caller) picks the node of each call;
// retry says whether a failed call is sent again (to target's next answer)
// under the same key, as a client behind a load balancer would.
func (l *faultLoad) run(ctx context.Context, callers int, stop <-chan struct{}, target func(caller int) heraldv1.NotifyServiceClient, retry bool) *sync.WaitGroup {
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for seq := 0; seq < 100000; seq++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				user := l.users[(c+seq)%len(l.users)]
				key := fmt.Sprintf("c%d-%05d", c, seq)
				for attempt := 0; ; attempt++ {
					err := l.send(ctx, target(c), user, key)
					if err == nil {
						break
					}
					if !retry || attempt == 1000 || ctx.Err() != nil {
						return
					}
					select { // do not spin while no node answers
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	return &wg
}

// listAll returns user's whole inbox through ListInbox, page by page.
func listAll(ctx context.Context, t *testing.T, ic heraldv1.InboxServiceClient, user string) []*heraldv1.InboxEntry {
	t.Helper()
	var all []*heraldv1.InboxEntry
	token := ""
	for range 1000 {
		r, err := ic.ListInbox(asUser(t, ctx, user), &heraldv1.ListInboxRequest{PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListInbox %s: %v", user, err)
		}
		all = append(all, r.GetEntries()...)
		if token = r.GetNextPageToken(); token == "" {
			return all
		}
	}
	t.Fatalf("ListInbox %s: more than 1000 pages", user)
	return nil
}

// retryUnknown sends again, through c, every notification whose outcome
// its caller did not learn; each must now be acknowledged.
func (l *faultLoad) retryUnknown(ctx context.Context, t *testing.T, c heraldv1.NotifyServiceClient) int {
	t.Helper()
	l.mu.Lock()
	unknown := make(map[string]string, len(l.unknown))
	for k, u := range l.unknown {
		unknown[k] = u
	}
	l.mu.Unlock()
	for key, user := range unknown {
		if err := l.send(ctx, c, user, key); err != nil {
			t.Fatalf("retry of %s: %v", key, err)
		}
	}
	return len(unknown)
}

// check reads every user's inbox through ic: each acknowledged
// notification is in its user's inbox exactly once, under the ID its
// acknowledgement gave, and no inbox holds another user's notification.
func (l *faultLoad) check(ctx context.Context, t *testing.T, ic heraldv1.InboxServiceClient) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]int{}
	for _, u := range l.users {
		for _, e := range listAll(ctx, t, ic, u) {
			owner, key, _ := strings.Cut(e.GetEvent().GetTitle(), "|")
			if owner != u {
				t.Errorf("inbox of %s holds %q", u, e.GetEvent().GetTitle())
				continue
			}
			seen[key]++
			if id, ok := l.ackedID[key]; ok && id != e.GetEvent().GetId() {
				t.Errorf("%s: %s stored as %s, acknowledged as %s", u, key, e.GetEvent().GetId(), id)
			}
		}
	}
	for key, user := range l.acked {
		if seen[key] != 1 {
			t.Errorf("acknowledged %s (to %s) stored %d times, want 1", key, user, seen[key])
		}
	}
	for key, n := range seen {
		if n > 1 {
			t.Errorf("%s stored %d times", key, n)
		}
	}
}

// TestFaultKill9UnderLoad kills a single node with SIGKILL while several
// callers send to several users. After a restart on the same data
// directory, every acknowledged notification is in the right inbox exactly
// once; the calls in flight at the kill are retried under their keys and
// are then there exactly once too, never twice.
func TestFaultKill9UnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, withDataDir(dir))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	load := newFaultLoad("k9-a", "k9-b", "k9-c", "k9-d", "k9-e")
	clients := []heraldv1.NotifyServiceClient{s.notifyClient(t), s.notifyClient(t)}
	stop := make(chan struct{})
	wg := load.run(ctx, 6, stop, func(c int) heraldv1.NotifyServiceClient { return clients[c%len(clients)] }, false)
	waitFor(t, 30*time.Second, func() bool { return load.ackedCount() >= 300 }, func() string {
		return fmt.Sprintf("only %d acknowledged before the kill", load.ackedCount())
	})
	s.Kill()
	wg.Wait()
	close(stop)

	s2 := startServer(t, withDataDir(dir))
	retried := load.retryUnknown(ctx, t, s2.notifyClient(t))
	load.check(ctx, t, s2.inboxClient(t))
	t.Logf("acknowledged %d before the kill; %d in flight at the kill, retried", load.ackedCount()-retried, retried)
}

// TestFaultClusterNodeKilledUnderLoad kills one node of a two-node Redis
// cluster with SIGKILL while callers send through both. The callers of the
// dead node retry on the other under the same keys, as behind a load
// balancer: every notification ends up exactly once in the right inbox,
// read on the surviving node and on the restarted one.
func TestFaultClusterNodeKilledUnderLoad(t *testing.T) {
	t.Parallel()
	rt := singleTopology(t)
	prefix := clusterPrefix(t, rt.client)
	nodes := startCluster(t, rt, 2, prefix)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	load := newFaultLoad("ck-a", "ck-b", "ck-c", "ck-d")
	clients := []heraldv1.NotifyServiceClient{nodes[0].notifyClient(t), nodes[1].notifyClient(t)}
	var (
		deadMu sync.Mutex
		dead   bool
	)
	target := func(c int) heraldv1.NotifyServiceClient {
		deadMu.Lock()
		defer deadMu.Unlock()
		if dead {
			return clients[1]
		}
		return clients[c%2]
	}
	stop := make(chan struct{})
	wg := load.run(ctx, 6, stop, target, true)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitFor(t, 30*time.Second, func() bool { return load.ackedCount() >= 300 }, func() string {
		return fmt.Sprintf("only %d acknowledged before the kill", load.ackedCount())
	})
	nodes[0].Kill()
	// The callers of node 1 notice the next time they fail; from then on
	// the load balancer sends everything to node 2.
	deadMu.Lock()
	dead = true
	deadMu.Unlock()
	n := load.ackedCount()
	waitFor(t, 30*time.Second, func() bool { return load.ackedCount() >= n+300 }, func() string {
		return fmt.Sprintf("acknowledged %d, want %d after the kill", load.ackedCount(), n+300)
	})
	close(stop)
	wg.Wait()

	retried := load.retryUnknown(ctx, t, clients[1])
	load.check(ctx, t, nodes[1].inboxClient(t))
	restarted := startCluster(t, rt, 1, prefix)[0]
	load.check(ctx, t, restarted.inboxClient(t))
	load.mu.Lock()
	t.Logf("acknowledged %d; failed calls by code %v; %d left unknown by the callers", load.total, load.codes, retried)
	load.mu.Unlock()
}

// TestFaultDiskFull fills the disk under a single node while callers send:
// Notify fails with UNAVAILABLE (never a false acknowledgement), /readyz
// says 503, and once space is freed the node recovers by itself, without a
// restart. Every acknowledged notification is then in its inbox exactly
// once, before and after a restart. The disk is a 16 MiB tmpfs, so the
// test needs root (where mount fails it is skipped, or fails under CI).
func TestFaultDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, "a tmpfs mount", "root with CAP_SYS_ADMIN, as .ci/run runs", fmt.Sprintf("%v %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, "data")
	// A 16 MiB volume is run with a memtable to match (README, "Disk
	// footprint"): each WAL file is preallocated to it.
	// Every acknowledged notification must be there at the end: the
	// callers are unpaced, and a fast run passed the default retention
	// of 1,000 per user.
	small := withArgs("--store-memtable-mb=2", "--retention-count=1000000")
	s := startServer(t, withDataDir(dir), small)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	load := newFaultLoad("df-a", "df-b", "df-c")
	nc := s.notifyClient(t)
	stop := make(chan struct{})
	wg := load.run(ctx, 4, stop, func(int) heraldv1.NotifyServiceClient { return nc }, true)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitFor(t, 30*time.Second, func() bool { return load.ackedCount() >= 200 }, func() string {
		return fmt.Sprintf("only %d acknowledged before the disk filled", load.ackedCount())
	})

	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	unavailable := func() int {
		load.mu.Lock()
		defer load.mu.Unlock()
		return load.codes[codes.Unavailable]
	}
	waitFor(t, 20*time.Second, func() bool { return unavailable() >= 5 }, func() string {
		return fmt.Sprintf("Notify did not fail on a full disk (%d acknowledged)", load.ackedCount())
	})
	waitFor(t, 10*time.Second, func() bool { return httpStatus(t, s.URL("/readyz")) == http.StatusServiceUnavailable }, func() string {
		return "readyz did not report the full disk"
	})
	// Reads go on while the disk is full, at once and after the store
	// failed to reopen on it.
	load.readsDuringFault(t, s, "df-a")
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(s.Logs(), "store: reads go on from a read-only open") }, func() string {
		return "the store did not reopen read-only:\n" + s.Logs()
	})
	load.readsDuringFault(t, s, "df-b")

	// Give back a modest amount, not the whole disk: the store must make do
	// with about 5.5 MB, less than one WAL file of the default memtable.
	freeSome(t, filler, 5500<<10)
	n := load.ackedCount()
	waitFor(t, 20*time.Second, func() bool { return load.ackedCount() >= n+200 }, func() string {
		return fmt.Sprintf("acknowledged %d, want %d: the node did not recover\n%s", load.ackedCount(), n+200, s.Logs())
	})
	waitFor(t, 10*time.Second, func() bool { return httpStatus(t, s.URL("/readyz")) == http.StatusOK }, func() string {
		return "readyz did not return to 200"
	})
	close(stop)
	wg.Wait()

	load.mu.Lock()
	for code, k := range load.codes {
		if code != codes.Unavailable {
			t.Errorf("%d Notify calls failed with %v; want only UNAVAILABLE", k, code)
		}
	}
	t.Logf("acknowledged %d; failed calls by code %v", load.total, load.codes)
	load.mu.Unlock()
	load.retryUnknown(ctx, t, nc)
	load.check(ctx, t, s.inboxClient(t))
	s.Kill()
	s2 := startServer(t, withDataDir(dir), small)
	load.check(ctx, t, s2.inboxClient(t))
}

// freeSome shrinks the filler at path by n bytes (or removes it if smaller).
func freeSome(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= n {
		t.Logf("filler holds only %d bytes; removing it", fi.Size())
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// fillDisk writes path until the file system is full (bounded: 64 MiB).
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 1024 {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
	t.Fatalf("fill %s: 64 MiB written and no ENOSPC", path)
}

// readsDuringFault checks, while no write can succeed, that user's stream
// replays every notification acknowledged to user and that the inbox page
// and counts answer, showing nothing that was not acknowledged.
func (l *faultLoad) readsDuringFault(t *testing.T, s *server, user string) {
	t.Helper()
	l.mu.Lock()
	acked := map[string]bool{} // notification IDs
	for key, u := range l.acked {
		if u == user {
			acked[l.ackedID[key]] = true
		}
	}
	l.mu.Unlock()
	if httpStatus(t, s.URL("/readyz")) != http.StatusServiceUnavailable {
		t.Fatal("readyz is 200 again: the disk is not full")
	}

	st := s.streamFor(t, user, "0")
	defer st.Close()
	replayed := map[string]bool{}
	for len(replayed) < len(acked) {
		_, p, err := st.NextNotification(10 * time.Second)
		if err != nil {
			t.Fatalf("stream of %s on a full disk: replayed %d of %d acknowledged, then %v\n%s", user, len(replayed), len(acked), err, s.Logs())
		}
		if !acked[p.ID] {
			t.Errorf("stream of %s on a full disk replays %s (%q), which was not acknowledged", user, p.ID, p.Title)
		}
		replayed[p.ID] = true
	}

	var page restList
	if code, b := restCall(t, s, http.MethodGet, "/v1/inbox?page_size=100", bearerFor(t, user), nil, &page); code != http.StatusOK {
		t.Fatalf("GET /v1/inbox of %s on a full disk: %d %s", user, code, b)
	}
	if want := min(len(acked), 100); len(page.Entries) != want {
		t.Errorf("inbox page of %s on a full disk has %d entries, want %d", user, len(page.Entries), want)
	}
	for _, e := range page.Entries {
		if !acked[e.Event.ID] {
			t.Errorf("inbox page of %s on a full disk lists %s, which was not acknowledged", user, e.Event.ID)
		}
	}
	var counts struct {
		Counts restCounts `json:"counts"`
	}
	if code, b := restCall(t, s, http.MethodGet, "/v1/inbox/counts", bearerFor(t, user), nil, &counts); code != http.StatusOK {
		t.Fatalf("GET /v1/inbox/counts of %s on a full disk: %d %s", user, code, b)
	}
	if counts.Counts.Unread != len(acked) {
		t.Errorf("unread count of %s on a full disk = %d, want the %d acknowledged", user, counts.Counts.Unread, len(acked))
	}
	t.Logf("full disk: %s's stream replayed %d, inbox page %d, unread %d", user, len(replayed), len(page.Entries), counts.Counts.Unread)
}
