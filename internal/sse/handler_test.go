package sse_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/sse"
)

func TestLiveDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	resp, fr := e.connect(tokenAlice, "", nil)

	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Connection":        "keep-alive",
		"Content-Encoding":  "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}

	sent := e.store.append("alice", 3)
	for _, en := range sent {
		f, err := fr.next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		wantEntry(t, f, en)
	}
	if got := metric(t, e.sseReg, "herald_sse_sent_entries_total"); got != 3 {
		t.Errorf("sent = %v, want 3", got)
	}
	if got := metric(t, e.sseReg, "herald_sse_streams_active"); got != 1 {
		t.Errorf("active = %v, want 1", got)
	}
}

func TestH2C(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	req := e.request("", http.Header{"Authorization": {"Bearer " + tokenAlice}})
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET over h2c: %v", err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if got := resp.Header.Get("Connection"); got != "" {
		t.Errorf("Connection = %q over HTTP/2, want none", got)
	}
	readRetryThenLive(t, e, resp.Body)
}

// TestReplayThenLive resumes a stream while entries keep committing during
// the replay, and checks that the client sees every cursor once, in order.
func TestReplayThenLive(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	e := newEnv(t, func(c *sse.Config) {
		c.ReplayBatch = 16
		c.QueueSize = 4096
	})
	e.store.append("alice", 300)
	e.store.append("bob", 50)

	// The first reads each commit entries of their own, so that the replay
	// certainly races live entries; a producer adds more meanwhile.
	reads := 0
	e.store.onRead = func() {
		reads++ // only the stream's goroutine reads
		if reads == 1 {
			close(started)
		}
		if reads <= 10 {
			e.store.append("alice", 3)
			e.store.append("bob", 1)
		}
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		<-started
		for range 200 {
			e.store.append("alice", 1)
			e.store.append("bob", 1)
		}
	}()

	_, fr := e.connect(tokenAlice, "", http.Header{"Last-Event-ID": {"100"}})
	prev, final := notify.Cursor(100), notify.Cursor(0)
	for final == 0 || prev < final {
		f, err := fr.nextEvent()
		if err != nil {
			t.Fatalf("after %d: %v", prev, err)
		}
		c, err := notify.ParseCursor(f.id())
		if err != nil {
			t.Fatalf("id %q: %v", f.id(), err)
		}
		if c != prev+1 {
			t.Fatalf("got cursor %d after %d: gap or duplicate", c, prev)
		}
		if !strings.Contains(f.data(), `"id":"alice-`+f.id()+`"`) {
			t.Fatalf("event %d carries %s", c, f.data())
		}
		prev = c
		if final == 0 && prev >= 300 {
			select {
			case <-produced:
				// Reads past the tenth commit nothing, and the tenth came
				// before cursor 300 could be read.
				final, _ = e.store.Last(context.Background(), "alice")
			default:
			}
		}
	}
	if final != 300+30+200 {
		t.Errorf("final cursor %d, want 530", final)
	}
	// And the stream is live.
	en := e.store.append("alice", 1)[0]
	f, err := fr.next()
	if err != nil {
		t.Fatalf("live: %v", err)
	}
	wantEntry(t, f, en)
	if got := metric(t, e.sseReg, "herald_sse_replayed_entries_total"); got < 200 {
		t.Errorf("replayed = %v, want at least 200", got)
	}
}

func TestResetOnExpiredCursor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cursor string
	}{
		{"older than retention", "5"},
		{"beyond newest", "99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.store.append("alice", 20)
			e.store.floor["alice"] = 10
			_, fr := e.connect(tokenAlice, "?lastEventId="+tt.cursor, nil)
			f, err := fr.next()
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			want := "id: 20\nevent: reset\ndata: {\"reason\":\"cursor_expired\",\"cursor\":\"20\"}\n\n"
			if f.raw != want {
				t.Fatalf("got %q, want %q", f.raw, want)
			}
			en := e.store.append("alice", 1)[0]
			f, err = fr.next()
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			wantEntry(t, f, en)
		})
	}
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.verifier["tok-expired"] = e.verifier[tokenAlice]
	expired := e.verifier["tok-expired"]
	expired.Expiry = time.Now().Add(-time.Minute)
	e.verifier["tok-expired"] = expired
	e.verifier["tok-nouser"] = expired
	tests := []struct {
		name       string
		method     string
		query      string
		header     http.Header
		cookie     string
		wantStatus int
		wantCode   string
	}{
		{name: "no token", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "unknown bearer", header: http.Header{"Authorization": {"Bearer tok-mallory-secret"}}, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "unknown query token", query: "?access_token=tok-mallory-secret", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "unknown cookie", cookie: "tok-mallory-secret", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "expired claims", query: "?access_token=tok-expired", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "basic scheme", header: http.Header{"Authorization": {"Basic tok-mallory-secret"}}, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "malformed header cursor", query: "?access_token=" + tokenAlice, header: http.Header{"Last-Event-ID": {"abc"}}, wantStatus: 400, wantCode: "invalid_cursor"},
		{name: "malformed query cursor", query: "?access_token=" + tokenAlice + "&lastEventId=01", wantStatus: 400, wantCode: "invalid_cursor"},
		{name: "negative cursor", query: "?access_token=" + tokenAlice + "&lastEventId=-1", wantStatus: 400, wantCode: "invalid_cursor"},
		{name: "header wins, bad", query: "?access_token=" + tokenAlice + "&lastEventId=5", header: http.Header{"Last-Event-ID": {"x"}}, wantStatus: 400, wantCode: "invalid_cursor"},
		{name: "header wins, good", query: "?access_token=" + tokenAlice + "&lastEventId=x", header: http.Header{"Last-Event-ID": {"0"}}, wantStatus: 200},
		{name: "cookie token", cookie: tokenAlice, wantStatus: 200},
		{name: "post", method: http.MethodPost, query: "?access_token=" + tokenAlice, wantStatus: 405, wantCode: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := e.request(tt.query, tt.header)
			if tt.method != "" {
				req.Method = tt.method
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "herald_token", Value: tt.cookie})
			}
			resp := e.do(req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 200 {
				return
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if got.Error.Code != tt.wantCode || got.Error.Message == "" {
				t.Errorf("error = %+v, want code %q", got.Error, tt.wantCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if strings.Contains(string(body), "secret") {
				t.Errorf("body echoes the token: %s", body)
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Cleanup(func() {
		// Runs after the subtests; no log line may carry a token.
		logs := e.logs.String()
		if !strings.Contains(logs, "token refused") {
			t.Errorf("refusals were not logged:\n%s", logs)
		}
		if strings.Contains(logs, "secret") || strings.Contains(logs, "access_token") {
			t.Errorf("logs carry a token or query:\n%s", logs)
		}
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		allowed   []string
		origin    string
		method    string
		token     string
		wantACAO  string
		wantCreds bool
		wantAllow bool
	}{
		{name: "allowed", allowed: []string{"https://app.example"}, origin: "https://app.example", token: tokenAlice, wantACAO: "https://app.example", wantCreds: true},
		{name: "not allowed", allowed: []string{"https://app.example"}, origin: "https://evil.example", token: tokenAlice},
		{name: "no origin", allowed: []string{"*"}, token: tokenAlice},
		// Any origin may read, but never with credentials: a page of any
		// site must not read a stream its visitor's cookie opened.
		{name: "any", allowed: []string{"*"}, origin: "https://x.example", token: tokenAlice, wantACAO: "*"},
		{name: "any, preflight", allowed: []string{"*"}, origin: "https://x.example", method: http.MethodOptions, wantACAO: "*", wantAllow: true},
		{name: "listed beside any", allowed: []string{"*", "https://app.example"}, origin: "https://app.example", token: tokenAlice, wantACAO: "https://app.example", wantCreds: true},
		{name: "unlisted beside any", allowed: []string{"*", "https://app.example"}, origin: "https://x.example", token: tokenAlice, wantACAO: "*"},
		{name: "nothing configured", origin: "https://app.example", token: tokenAlice},
		{name: "401 readable", allowed: []string{"https://app.example"}, origin: "https://app.example", wantACAO: "https://app.example", wantCreds: true},
		{name: "preflight", allowed: []string{"https://app.example"}, origin: "https://app.example", method: http.MethodOptions, wantACAO: "https://app.example", wantCreds: true, wantAllow: true},
		{name: "preflight refused", allowed: []string{"https://app.example"}, origin: "https://evil.example", method: http.MethodOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *sse.Config) { c.AllowedOrigins = tt.allowed })
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			req := e.request("", h)
			if tt.method != "" {
				req.Method = tt.method
				req.Header.Set("Access-Control-Request-Method", "GET")
			}
			resp := e.do(req)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if got, want := resp.Header.Get("Access-Control-Allow-Credentials"), map[bool]string{true: "true"}[tt.wantCreds]; got != want {
				t.Errorf("Allow-Credentials = %q, want %q", got, want)
			}
			if got := resp.Header.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
				t.Errorf("Vary = %q, want Origin", got)
			}
			if got := resp.Header.Get("Access-Control-Allow-Headers"); strings.Contains(got, "Last-Event-ID") != tt.wantAllow {
				t.Errorf("Allow-Headers = %q", got)
			}
			if tt.method == http.MethodOptions && resp.StatusCode != http.StatusNoContent {
				t.Errorf("preflight status = %d, want 204", resp.StatusCode)
			}
		})
	}
}

// TestCookieCrossOrigin checks that the herald_token cookie authenticates
// only same-origin requests and those from an explicitly listed origin:
// a browser attaches the cookie to requests that any site starts.
func TestCookieCrossOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		allowed  []string
		origin   string // "self" is the server's own origin
		fetch    string // Sec-Fetch-Site
		query    bool   // the token in the query instead of the cookie
		wantCode int
	}{
		{name: "no origin", allowed: []string{"*"}, wantCode: 200},
		{name: "same origin", allowed: []string{"*"}, origin: "self", wantCode: 200},
		{name: "fetch same-origin", allowed: []string{"*"}, fetch: "same-origin", wantCode: 200},
		{name: "fetch none", allowed: []string{"*"}, fetch: "none", wantCode: 200},
		{name: "any origin", allowed: []string{"*"}, origin: "https://evil.example", wantCode: 401},
		{name: "any origin, fetch cross-site", allowed: []string{"*"}, origin: "https://evil.example", fetch: "cross-site", wantCode: 401},
		{name: "fetch cross-site, no origin", allowed: []string{"*"}, fetch: "cross-site", wantCode: 401},
		{name: "fetch same-site", allowed: []string{"*"}, fetch: "same-site", wantCode: 401},
		{name: "null origin", allowed: []string{"*"}, origin: "null", wantCode: 401},
		{name: "unlisted origin", allowed: []string{"https://app.example"}, origin: "https://evil.example", wantCode: 401},
		{name: "nothing configured", origin: "https://evil.example", wantCode: 401},
		{name: "listed origin", allowed: []string{"https://app.example"}, origin: "https://app.example", fetch: "cross-site", wantCode: 200},
		{name: "listed beside any", allowed: []string{"*", "https://app.example"}, origin: "https://app.example", wantCode: 200},
		{name: "query token cross-origin", allowed: []string{"*"}, origin: "https://x.example", fetch: "cross-site", query: true, wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *sse.Config) { c.AllowedOrigins = tt.allowed })
			h := http.Header{}
			switch tt.origin {
			case "":
			case "self":
				h.Set("Origin", e.srv.URL)
			default:
				h.Set("Origin", tt.origin)
			}
			if tt.fetch != "" {
				h.Set("Sec-Fetch-Site", tt.fetch)
			}
			query := ""
			if tt.query {
				query = "?access_token=" + tokenAlice
			}
			req := e.request(query, h)
			if !tt.query {
				req.AddCookie(&http.Cookie{Name: "herald_token", Value: tokenAlice})
			}
			resp := e.do(req)
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantCode)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	const jitter = 2 * time.Second
	e := newEnv(t, func(c *sse.Config) { c.ShutdownJitter = jitter })
	_, a := e.connect(tokenAlice, "", nil)
	_, b := e.connect(tokenBob, "", nil)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- e.handler.Shutdown(ctx)
	}()
	for _, fr := range []*frameReader{a, b} {
		f, err := fr.next()
		if err != nil {
			t.Fatalf("retry frame: %v", err)
		}
		v, _ := f.value("retry")
		ms, err := strconv.Atoi(v)
		if err != nil || len(f.fields) != 1 || ms < 3000 || ms >= 3000+int(jitter.Milliseconds()) {
			t.Fatalf("frame %q, want a retry in [3000, 5000)", f.raw)
		}
		if f, err = fr.next(); err != nil || f.raw != "event: shutdown\ndata: {\"reason\":\"shutdown\"}\n\n" {
			t.Fatalf("final frame %q, %v", f.raw, err)
		}
		if f, err = fr.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after shutdown: frame %q, err %v; want EOF", f.raw, err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	resp := e.do(e.request("?access_token="+url.QueryEscape(tokenAlice), nil))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after shutdown: status %d, want 503", resp.StatusCode)
	}
	if got := metric(t, e.sseReg, "herald_sse_disconnects_total", "reason", "shutdown"); got != 2 {
		t.Errorf("shutdown disconnects = %v, want 2", got)
	}
}

func TestUserIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.store.append("bob", 3)
	e.store.append("alice", 1)
	// Whatever user the query names, the token's user is streamed.
	_, fr := e.connect(tokenAlice, "?user=bob&user_id=bob&lastEventId=0", nil)
	f, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.data(), `"id":"alice-1"`) {
		t.Fatalf("replay gave %q", f.raw)
	}
	e.store.append("bob", 1)
	en := e.store.append("alice", 1)[0]
	f, err = fr.next()
	if err != nil {
		t.Fatal(err)
	}
	wantEntry(t, f, en)
}

// TestSlowConsumer stalls one client of a user and checks that another keeps
// getting every event while the stalled one is evicted.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *sse.Config) {
		c.QueueSize = 4
		c.WriteTimeout = 2 * time.Second
	})
	e.store.padding = 64 << 10 // fill the stalled socket's buffers quickly
	slowResp, _ := e.connect(tokenAlice, "", nil)
	_, fast := e.connect(tokenAlice, "", nil)

	const limit = 1000
	evicted := false
	for i := 1; i <= limit && !evicted; i++ {
		en := e.store.append("alice", 1)[0]
		f, err := fast.next()
		if err != nil {
			t.Fatalf("fast client, entry %d: %v", i, err)
		}
		if f.id() != en.Cursor.String() {
			t.Fatalf("fast client got id %s, want %d", f.id(), en.Cursor)
		}
		evicted = metric(t, e.hubReg, "herald_hub_evictions_total") >= 1
	}
	if !evicted {
		t.Fatalf("no eviction after %d entries", limit)
	}
	// The fast client is still live.
	en := e.store.append("alice", 1)[0]
	f, err := fast.next()
	if err != nil {
		t.Fatal(err)
	}
	if f.id() != en.Cursor.String() {
		t.Fatalf("fast client got id %s, want %d", f.id(), en.Cursor)
	}
	slowResp.Body.Close()
}

// TestStreamEnds covers the ends that write nothing: the client reconnects
// and resumes from its cursor.
func TestStreamEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cursor string
		end    func(*env)
		reason string
	}{
		{"store error on resume", "0", func(e *env) {}, "store_error"},
		{"hub closed", "", func(e *env) { e.hub.Close() }, "hub_closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.store.readErr = errors.New("disk on fire")
			h := http.Header{}
			if tt.cursor != "" {
				h.Set("Last-Event-ID", tt.cursor)
			}
			_, fr := e.connect(tokenAlice, "", h)
			tt.end(e)
			if f, err := fr.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("got frame %q, err %v; want EOF", f.raw, err)
			}
			e.handler.Shutdown(context.Background()) // waits for the stream to be counted
			if got := metric(t, e.sseReg, "herald_sse_disconnects_total", "reason", tt.reason); got != 1 {
				t.Errorf("%s disconnects = %v, want 1", tt.reason, got)
			}
		})
	}
}

// A read-state change reaches every stream of the user as a `read` event
// with the counts and no id, and leaves the resume point where it was.
func TestReadEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, fr1 := e.connect(tokenAlice, "", nil)
	_, fr2 := e.connect(tokenAlice, "", nil)
	_, frBob := e.connect(tokenBob, "", nil)

	first := e.store.append("alice", 1)
	e.hub.Publish([]notify.Entry{{User: "alice", Counts: &notify.Counts{Unread: 0, Unseen: 1}}})
	then := e.store.append("alice", 1)
	bob := e.store.append("bob", 1)
	for _, fr := range []*frameReader{fr1, fr2} {
		f, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		wantEntry(t, f, first[0])
		f, err = fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if want := "event: read\ndata: {\"unread\":0,\"unseen\":1}\n\n"; f.raw != want {
			t.Fatalf("read frame %q, want %q", f.raw, want)
		}
		f, err = fr.next()
		if err != nil {
			t.Fatal(err)
		}
		wantEntry(t, f, then[0])
	}
	// Bob's stream got nothing of alice's.
	f, err := frBob.next()
	if err != nil {
		t.Fatal(err)
	}
	wantEntry(t, f, bob[0])
}
