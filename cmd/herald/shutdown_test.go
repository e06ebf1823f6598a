package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// restNotifyOutcome is what one REST Notify call got.
type restNotifyOutcome struct {
	key, user string
	ok        bool   // answered 200
	id        string // with this ID
}

// TestSigtermDrainsRESTNotify sends REST Notify calls in a loop from
// several callers, sends SIGTERM while they run, and checks after a restart
// that every call answered OK is stored, and that every stored notification
// was answered OK or is found by its idempotency key: a retry with the key
// of a call that got an error (or no answer) returns the stored one as a
// duplicate instead of storing it twice.
func TestSigtermDrainsRESTNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, withDataDir(dir))

	const callers, perCaller, signalAfter = 8, 2000, 300
	var (
		mu       sync.Mutex
		outcomes []restNotifyOutcome
		okCount  atomic.Int64
		signaled = make(chan struct{})
		reached  = make(chan struct{}) // closed at the signalAfter-th OK
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("sigterm-%d", c)
			for i := range perCaller {
				key := fmt.Sprintf("%s-%d", user, i)
				o := restNotifyOutcome{key: key, user: user}
				o.ok, o.id, _ = postNotify(client, s.URL(""), user, key)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if o.ok {
					if okCount.Add(1) == signalAfter {
						close(reached)
					}
					continue
				}
				select {
				case <-signaled:
					return // refused or cut off by the shutdown: done
				default:
				}
			}
		}()
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d calls answered OK within 60s:\n%s", okCount.Load(), s.Logs())
	}
	close(signaled)
	s.Stop()
	wg.Wait()

	restarted := startServer(t, withDataDir(dir))
	want := map[string]map[string]bool{} // user → IDs that must be stored
	var failed, foundByKey int
	for _, o := range outcomes {
		if want[o.user] == nil {
			want[o.user] = map[string]bool{}
		}
		if o.ok {
			want[o.user][o.id] = true
			continue
		}
		failed++
		// The retry a caller would send: a duplicate if the first call was
		// stored, a fresh notification if it was not.
		ok, id, dup := postNotify(client, restarted.URL(""), o.user, o.key)
		if !ok {
			t.Fatalf("retry of %s after restart failed", o.key)
		}
		if dup {
			foundByKey++
		}
		want[o.user][id] = true
	}
	// REST and gRPC calls are counted alike, each once.
	const okSeries = `herald_rpc_requests_total{code="OK",method="herald.v1.NotifyService/Notify"}`
	if got := metricValue(t, restarted, okSeries); got != float64(failed) {
		t.Errorf("%s after %d REST retries: got %v", okSeries, failed, got)
	}
	if _, err := notifyUser(t.Context(), restarted.notifyClient(t), "sigterm-grpc", "over gRPC"); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, restarted, okSeries); got != float64(failed+1) {
		t.Errorf("%s after one more call over gRPC: got %v, want %d", okSeries, got, failed+1)
	}
	stored := 0
	for user, ids := range want {
		got := listInboxIDs(t, restarted, user)
		stored += len(got)
		for id := range ids {
			if !got[id] {
				t.Errorf("user %s: notification %s answered OK (or found by its key) is not stored", user, id)
			}
		}
		for id := range got {
			if !ids[id] {
				t.Errorf("user %s: notification %s is stored but was neither answered OK nor found by its idempotency key", user, id)
			}
		}
	}
	t.Logf("%d calls: %d answered OK, %d failed or unanswered and retried (%d of them stored before, found by key); %d stored after the retries",
		len(outcomes), okCount.Load(), failed, foundByKey, stored)
}

// postNotify sends one REST Notify to the server at baseURL and reports
// whether it was answered 200, with the notification's ID and whether it was
// a duplicate.
func postNotify(client *http.Client, baseURL, user, key string) (ok bool, id string, duplicate bool) {
	body, _ := json.Marshal(map[string]any{
		"audience":        map[string]any{"user_ids": []string{user}},
		"title":           key,
		"idempotency_key": key,
	})
	code, b, err := restNotifyAt(context.Background(), client, baseURL, string(body))
	if err != nil || code != http.StatusOK {
		return false, "", false
	}
	var r struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	if json.Unmarshal(b, &r) != nil || r.ID == "" {
		return false, "", false
	}
	return true, r.ID, r.Duplicate
}

// listInboxIDs returns the IDs of every entry in user's inbox.
func listInboxIDs(t *testing.T, s *server, user string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	token := ""
	for range 100 {
		var page restList
		q := url.Values{"page_size": {"200"}, "page_token": {token}}
		code, b := restCall(t, s, http.MethodGet, "/v1/inbox?"+q.Encode(), bearerFor(t, user), nil, &page)
		if code != http.StatusOK {
			t.Fatalf("list inbox of %s: %d %s", user, code, b)
		}
		for _, e := range page.Entries {
			ids[e.Event.ID] = true
		}
		if page.NextPageToken == "" {
			return ids
		}
		token = page.NextPageToken
	}
	t.Fatalf("inbox of %s: more than 100 pages", user)
	return nil
}
