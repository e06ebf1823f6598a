package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestNotifyOverGRPCReachesStream(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	st := s.streamFor(t, "alice", "")
	if got := st.resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := st.resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := st.resp.Header.Get("X-Accel-Buffering"); got != "no" {
		t.Errorf("X-Accel-Buffering = %q", got)
	}

	data, _ := structpb.NewStruct(map[string]any{"order": "123", "n": 2.0})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.notifyClient(t).Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
		Audience: &heraldv1.Audience{UserIds: []string{"alice", "bob"}},
		Type:     "order.shipped",
		Title:    "Shipped",
		Body:     "Your order is on its way",
		Data:     data,
	}})
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if resp.GetRecipients() != 2 || resp.GetId() == "" {
		t.Fatalf("Notify = %v, want 2 recipients and an id", resp)
	}
	ev, p, err := st.NextNotification(5 * time.Second)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if ev.ID != "1" || ev.Event != "order.shipped" {
		t.Errorf("event id=%q event=%q, want id=1 event=order.shipped", ev.ID, ev.Event)
	}
	if p.ID != resp.GetId() || p.Title != "Shipped" || p.Body != "Your order is on its way" || p.Data["order"] != "123" || p.CreatedAt == "" {
		t.Errorf("payload = %+v", p)
	}
	if st.Retry == "" {
		t.Error("stream sent no retry field")
	}
}

func TestNotifyWithGrpcurl(t *testing.T) {
	t.Parallel()
	grpcurl := testenv.NeedCommand(t, "grpcurl", "make tools", toolDir)
	s := startServer(t)
	st := s.streamFor(t, "carol", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, grpcurl, "-plaintext",
		"-H", "authorization: Bearer "+testAPIKey,
		"-d", `{"notification":{"audience":{"user_ids":["carol"]},"type":"ping","title":"From grpcurl"}}`,
		s.GRPCAddr, "herald.v1.NotifyService/Notify").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl: %v\n%s", err, out)
	}
	var resp struct {
		ID         string `json:"id"`
		Recipients int    `json:"recipients"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.ID == "" || resp.Recipients != 1 {
		t.Fatalf("grpcurl output %s (err %v)", out, err)
	}
	ev, p, err := st.NextNotification(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event != "ping" || p.Title != "From grpcurl" || p.ID != resp.ID {
		t.Errorf("got %+v %+v", ev, p)
	}

	// Unauthenticated: refused.
	out, err = exec.CommandContext(ctx, grpcurl, "-plaintext",
		"-d", `{"notification":{"audience":{"user_ids":["carol"]},"title":"x"}}`,
		s.GRPCAddr, "herald.v1.NotifyService/Notify").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Unauthenticated") {
		t.Errorf("grpcurl without key: err=%v out=%s", err, out)
	}
}

func TestNotifyOverREST(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	st := s.streamFor(t, "dave", "")

	post := func(body string, key bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL("/v1/notify"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key {
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("status %d, body is not JSON: %q", resp.StatusCode, b)
		}
		return resp.StatusCode, m
	}

	code, m := post(`{"audience":{"user_ids":["dave"]},"title":"Hi"}`, true)
	if code != http.StatusOK || m["id"] == "" {
		t.Fatalf("POST /v1/notify = %d %v", code, m)
	}
	ev, p, err := st.NextNotification(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "1" || ev.Event != "notification" || p.Title != "Hi" || p.ID != m["id"] {
		t.Errorf("got %+v %+v, want id 1 title Hi", ev, p)
	}
	// lowerCamel input is accepted too.
	if code, m := post(`{"audience":{"userIds":["dave"]},"title":"Camel","idempotencyKey":"k1"}`, true); code != http.StatusOK {
		t.Fatalf("lowerCamel POST = %d %v", code, m)
	}
	if _, p, err := st.NextNotification(5 * time.Second); err != nil || p.Title != "Camel" {
		t.Fatalf("second event %+v err %v", p, err)
	}

	for _, tc := range []struct {
		name, body string
		key        bool
		want       int
	}{
		{"empty audience", `{"audience":{},"title":"x"}`, true, http.StatusBadRequest},
		{"no title", `{"audience":{"user_ids":["dave"]}}`, true, http.StatusBadRequest},
		{"oversize title", `{"audience":{"user_ids":["dave"]},"title":"` + strings.Repeat("x", 5000) + `"}`, true, http.StatusBadRequest},
		{"malformed json", `{"audience":`, true, http.StatusBadRequest},
		{"data not an object", `{"audience":{"user_ids":["dave"]},"title":"x","data":[1]}`, true, http.StatusBadRequest},
		{"no api key", `{"audience":{"user_ids":["dave"]},"title":"x"}`, false, http.StatusUnauthorized},
	} {
		code, m := post(tc.body, tc.key)
		if code != tc.want {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, code, tc.want, m)
		}
		if m["message"] == nil && m["error"] == nil {
			t.Errorf("%s: error body has no message: %v", tc.name, m)
		}
	}
}

func TestResumeWithLastEventID(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	st := s.streamFor(t, "erin", "")
	if _, err := notifyUser(ctx, c, "erin", "first"); err != nil {
		t.Fatal(err)
	}
	first, _, err := st.NextNotification(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	for i := 0; i < 100; i++ {
		if _, err := notifyUser(ctx, c, "erin", fmt.Sprintf("n%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st = s.streamFor(t, "erin", first.ID)
	for i := 0; i < 100; i++ {
		_, p, err := st.NextNotification(5 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("n%03d", i); p.Title != want {
			t.Fatalf("event %d: title %q, want %q", i, p.Title, want)
		}
	}

	// lastEventId in the query does the same for clients that cannot set
	// headers; a malformed cursor is a 400 with a JSON body.
	q := openStream(t, s.HTTPAddr, "/v1/stream?lastEventId=100", map[string]string{"Authorization": "Bearer " + token(t, "erin")})
	if _, p, err := q.NextNotification(5 * time.Second); err != nil || p.Title != "n099" {
		t.Fatalf("query resume: %+v %v", p, err)
	}
	bad := openStream(t, s.HTTPAddr, "/v1/stream", map[string]string{"Authorization": "Bearer " + token(t, "erin"), "Last-Event-ID": "not-a-cursor"})
	if bad.resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(bad.resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("bad cursor: status %d content-type %q", bad.resp.StatusCode, bad.resp.Header.Get("Content-Type"))
	}
}

// TestResumeWhileProducing reconnects while a producer keeps sending: the
// union of what the two streams saw is every notification exactly once, in
// order.
func TestResumeWhileProducing(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const total = 300

	st := s.streamFor(t, "frank", "")
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			if _, err := notifyUser(ctx, c, "frank", fmt.Sprintf("p%04d", i)); err != nil {
				errc <- err
				return
			}
		}
	}()

	var titles []string
	var last string
	for len(titles) < 50 {
		ev, p, err := st.NextNotification(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		titles, last = append(titles, p.Title), ev.ID
	}
	st.Close()
	st = s.streamFor(t, "frank", last)
	for len(titles) < total {
		ev, p, err := st.NextNotification(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d events: %v", len(titles), err)
		}
		titles, last = append(titles, p.Title), ev.ID
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	for i, got := range titles {
		if want := fmt.Sprintf("p%04d", i); got != want {
			t.Fatalf("event %d = %q, want %q", i, got, want)
		}
	}
	if last != fmt.Sprint(total) {
		t.Errorf("last cursor %q, want %d", last, total)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	send := func(key string) (*heraldv1.NotifyResponse, error) {
		return c.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
			Audience:       &heraldv1.Audience{UserIds: []string{"gina"}},
			Title:          "once",
			IdempotencyKey: key,
		}})
	}
	first, err := send("order-1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := send("order-1")
	if err != nil {
		t.Fatal(err)
	}
	if second.GetId() != first.GetId() || !second.GetDuplicate() {
		t.Errorf("retry = %v, want id %s and duplicate", second, first.GetId())
	}

	// Concurrently: 20 senders race with one new key.
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := send("order-2")
			if err != nil {
				t.Error(err)
				return
			}
			ids <- r.GetId()
		}()
	}
	wg.Wait()
	close(ids)
	var distinct = map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	if len(distinct) != 1 {
		t.Errorf("concurrent retries returned %d ids, want 1", len(distinct))
	}

	// The inbox holds exactly two entries.
	st := s.streamFor(t, "gina", "0")
	var got []string
	for i := 0; i < 2; i++ {
		_, p, err := st.NextNotification(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.ID)
	}
	if got[0] != first.GetId() || !distinct[got[1]] {
		t.Errorf("inbox ids %v", got)
	}
	if _, err := notifyUser(ctx, c, "gina", "sentinel"); err != nil {
		t.Fatal(err)
	}
	if _, p, err := st.NextNotification(5 * time.Second); err != nil || p.Title != "sentinel" {
		t.Errorf("after the two entries came %+v (err %v), want the sentinel: a duplicate was stored", p, err)
	}
}

func TestBatchValidationIsAllOrNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.NotifyBatch(withKey(ctx), &heraldv1.NotifyBatchRequest{Notifications: []*heraldv1.Notification{
		{Audience: &heraldv1.Audience{UserIds: []string{"hal"}}, Title: "ok"},
		{Audience: &heraldv1.Audience{}, Title: "no audience"},
	}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("NotifyBatch with one bad = %v, want InvalidArgument", err)
	}
	if !strings.Contains(err.Error(), "notifications[1]") {
		t.Errorf("error %q does not name the bad notification", err)
	}
	resp, err := c.NotifyBatch(withKey(ctx), &heraldv1.NotifyBatchRequest{Notifications: []*heraldv1.Notification{
		{Audience: &heraldv1.Audience{UserIds: []string{"hal"}}, Title: "a"},
		{Audience: &heraldv1.Audience{UserIds: []string{"hal", "ivy"}}, Title: "b"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResults()) != 2 || resp.GetResults()[1].GetRecipients() != 2 {
		t.Fatalf("NotifyBatch = %v", resp)
	}
	st := s.streamFor(t, "hal", "0")
	for _, want := range []string{"a", "b"} {
		if _, p, err := st.NextNotification(5 * time.Second); err != nil || p.Title != want {
			t.Fatalf("got %+v (err %v), want %q; the refused batch must have stored nothing", p, err, want)
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(s.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d %s", path, resp.StatusCode, b)
		}
		if path == "/metrics" && !bytes.Contains(b, []byte("process_resident_memory_bytes")) {
			t.Errorf("/metrics lacks process metrics")
		}
	}
}

// TestStreamOverH2C: the server speaks HTTP/2 without TLS (h2c), as it does
// behind a proxy, and streams over it.
func TestStreamOverH2C(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	t.Cleanup(client.CloseIdleConnections)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL("/v1/stream"), nil)
	req.Header.Set("Authorization", "Bearer "+token(t, "h2user"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	if _, err := notifyUser(ctx, s.notifyClient(t), "h2user", "over h2c"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 20; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			if !strings.Contains(line, `"title":"over h2c"`) {
				t.Fatalf("data line %q", line)
			}
			return
		}
	}
	t.Fatal("no data line")
}

// --pprof-addr serves profiles on their own port, never on the public one.
func TestPprofOnItsOwnPort(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--pprof-addr=127.0.0.1:0"))
	var rec struct {
		Pprof string `json:"pprof_addr"`
	}
	for _, line := range strings.Split(s.Logs(), "\n") {
		if strings.Contains(line, `"herald started"`) {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rec.Pprof == "" {
		t.Fatalf("no pprof_addr in the start line:\n%s", s.Logs())
	}
	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http://" + rec.Pprof + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("pprof port: status %d", code)
	}
	if code := get(s.URL("/debug/pprof/")); code == http.StatusOK {
		t.Errorf("public port serves pprof")
	}
}
