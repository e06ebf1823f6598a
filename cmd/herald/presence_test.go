package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// presenceREST is one user of a GET /v1/presence answer.
type presenceREST struct {
	UserID   string     `json:"user_id"`
	Online   bool       `json:"online"`
	LastSeen *time.Time `json:"last_seen_time"`
}

func (p presenceREST) String() string {
	seen := "never"
	if p.LastSeen != nil {
		seen = p.LastSeen.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s online=%t last_seen=%s", p.UserID, p.Online, seen)
}

// restPresence asks s for users' presence over REST with the test API key,
// the users comma-separated.
func restPresence(t testing.TB, s *server, users ...string) map[string]presenceREST {
	t.Helper()
	var out struct {
		Users []presenceREST `json:"users"`
	}
	q := url.Values{"user_ids": {strings.Join(users, ",")}}
	code, b := restCall(t, s, http.MethodGet, "/v1/presence?"+q.Encode(), map[string]string{"X-Api-Key": testAPIKey}, nil, &out)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/presence: %d %s", code, b)
	}
	m := make(map[string]presenceREST, len(out.Users))
	for _, u := range out.Users {
		m[u.UserID] = u
	}
	if len(m) != len(users) {
		t.Fatalf("GET /v1/presence answered %s, want one per user of %q", b, users)
	}
	return m
}

// checkPresence runs the presence scenario: a user streams on node a and
// is online on node b; after the stream closes, offline there with the
// close's time as last seen; a user never seen is offline with none; and
// the same once over gRPC with a gRPC stream.
func checkPresence(t *testing.T, a, b *server) {
	const user, never, grpcUser = "pres-alice", "pres-never", "pres-bob"
	st := a.streamFor(t, user, "")
	opened := time.Now()
	waitFor(t, 10*time.Second, func() bool { return restPresence(t, b, user, never)[user].Online },
		func() string { return "a stream on one node does not show online on the other" })
	got := restPresence(t, b, user, never)
	if u := got[user]; u.LastSeen == nil || u.LastSeen.Before(opened.Add(-time.Second)) {
		t.Errorf("online: %v, want last seen now", u)
	}
	if u := got[never]; u.Online || u.LastSeen != nil {
		t.Errorf("never seen: %v, want offline without last seen", u)
	}

	before := time.Now()
	st.Close()
	var last presenceREST
	waitFor(t, 10*time.Second, func() bool { last = restPresence(t, b, user)[user]; return !last.Online },
		func() string { return "still online after the stream closed: " + last.String() })
	after := time.Now()
	// A second either side for the clocks of Redis and of the test.
	if last.LastSeen == nil || last.LastSeen.Before(before.Add(-time.Second)) || last.LastSeen.After(after.Add(time.Second)) {
		t.Errorf("after the close: %v, want last seen within [%v, %v]", last, before, after)
	}
	if again := restPresence(t, a, user)[user]; again.Online || again.LastSeen == nil || !again.LastSeen.Equal(*last.LastSeen) {
		t.Errorf("the other node: %v, want %v", again, last)
	}

	// Over gRPC: a gRPC stream on node b, asked on node a.
	pc := heraldv1.NewPresenceServiceClient(grpcConn(t, a.GRPCAddr))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ask := func() *heraldv1.UserPresence {
		resp, err := pc.GetPresence(withKey(ctx), &heraldv1.GetPresenceRequest{UserIds: []string{grpcUser}})
		if err != nil || len(resp.GetUsers()) != 1 {
			t.Fatalf("GetPresence: %v, %v", resp, err)
		}
		return resp.GetUsers()[0]
	}
	if p := ask(); p.GetOnline() || p.LastSeenTime != nil {
		t.Fatalf("before any stream: %v, want offline, never seen", p)
	}
	_, stop := grpcStream(t, b.inboxClient(t), grpcUser, "")
	waitFor(t, 10*time.Second, func() bool { return ask().GetOnline() },
		func() string { return "a gRPC stream does not show online" })
	stop()
	var p *heraldv1.UserPresence
	waitFor(t, 10*time.Second, func() bool { p = ask(); return !p.GetOnline() },
		func() string { return fmt.Sprintf("still online after the gRPC stream ended: %v", p) })
	if p.LastSeenTime == nil {
		t.Errorf("after the gRPC stream: %v, want a last seen time", p)
	}
	if _, err := pc.GetPresence(ctx, &heraldv1.GetPresenceRequest{UserIds: []string{grpcUser}}); err == nil {
		t.Error("GetPresence without an API key answered")
	}
}

// TestPresenceCluster: presence across two nodes on one Redis.
func TestPresenceCluster(t *testing.T) {
	t.Parallel()
	onTopologies(t, func(t *testing.T, rt *redisTopology) {
		nodes := startCluster(t, rt, 2, clusterPrefix(t, rt.client))
		checkPresence(t, nodes[0], nodes[1])
	})
}

// TestPresenceSingleNode: presence on one node with the embedded store.
func TestPresenceSingleNode(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	checkPresence(t, s, s)
}

// TestPresenceFieldViolations: the REST answer names the field.
func TestPresenceFieldViolations(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	users := make([]string, 101)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	for _, q := range []string{"", "user_ids=" + strings.Join(users, ",")} {
		r := restWithKey(t, s, http.MethodGet, "/v1/presence?"+q, testAPIKey, "")
		b, _ := json.Marshal(r.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(b), `"field":"user_ids"`) {
			t.Errorf("?%.30s: %d %s, want 400 naming user_ids", q, r.status, b)
		}
	}
}

// TestPresenceRedisDown: with Redis gone, GET /v1/presence answers 503
// naming Redis, promptly; an open stream goes on (its heartbeats keep
// coming); its end, which Redis cannot record, is counted; once Redis is
// back, presence answers again.
func TestPresenceRedisDown(t *testing.T) {
	t.Parallel()
	r := startOwnRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rdb.Close()
	nodes := startCluster(t, singleAt(rdb, r.addr), 2, "herald-test-presence-down:")
	const user = "pres-down"
	st := nodes[0].streamFor(t, user, "")
	waitFor(t, 10*time.Second, func() bool { return restPresence(t, nodes[1], user)[user].Online },
		func() string { return "the stream does not show online" })

	r.kill()
	start := time.Now()
	_, code, b := restDo(t, nodes[1], http.MethodGet, "/v1/presence?user_ids="+user, map[string]string{"X-Api-Key": testAPIKey}, nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "presence (redis)") {
		t.Fatalf("with Redis down: %d %s, want 503 naming redis", code, b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the 503 took %v", d)
	}
	// Two heartbeats (--heartbeat=1s) after Redis went away: the stream
	// is still served.
	for range 2 {
		if err := nextComment(st, 5*time.Second); err != nil {
			t.Fatalf("the open stream stopped with Redis down: %v", err)
		}
	}
	st.Close()
	series := "herald_presence_write_errors_total"
	waitFor(t, 10*time.Second, func() bool { return metricValue(t, nodes[0], series) >= 1 },
		func() string { return series + " did not count the end Redis could not record" })

	r.start()
	waitFor(t, 30*time.Second, func() bool {
		_, code, _ := restDo(t, nodes[1], http.MethodGet, "/v1/presence?user_ids="+user, map[string]string{"X-Api-Key": testAPIKey}, nil)
		return code == http.StatusOK
	}, func() string { return "presence did not answer again once Redis was back" })
}

// nextComment reads up to the next SSE comment line (a heartbeat), waiting
// at most d.
func nextComment(s *rawStream, d time.Duration) error {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, ":") {
			return nil
		}
	}
}
