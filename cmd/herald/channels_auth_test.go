package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// TestChannelAuthorization is the matrix of who may listen to which
// channel, against the real server: a public pattern with any token, a
// token's channels claim, an anonymous pattern with no token, refusals
// naming the channel, query parameters that never widen the token, the
// per-stream limit and malformed input; on SSE, the history endpoint and
// the gRPC stream.
func TestChannelAuthorization(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--public-channels=news/*", "--anonymous-channels=status/*",
		"--max-channels-per-stream=3"))
	plain := token(t, "paula")                     // no channels claim
	team := channelToken(t, "tom", "rooms/team-*") // claims rooms/team-*

	for _, tc := range []struct {
		name   string
		path   string
		tok    string // Authorization bearer; empty for none
		status int
		names  string // in the error message
	}{
		{"public with a plain token", streamPath([]string{"news/today"}), plain, 200, ""},
		{"public with a claim token", streamPath([]string{"news/today"}), team, 200, ""},
		{"claimed", streamPath([]string{"rooms/team-a", "rooms/team-b"}), team, 200, ""},
		{"claimed and public", streamPath([]string{"rooms/team-a", "news/today", "status/api"}), team, 200, ""},
		{"anonymous with a token", streamPath([]string{"status/api"}), plain, 200, ""},
		{"anonymous without a token", streamPath([]string{"status/api", "status/db"}), "", 200, ""},
		{"claim pattern with a plain token", streamPath([]string{"rooms/team-a"}), plain, 403, "rooms/team-a"},
		{"beyond the claim", streamPath([]string{"rooms/other"}), team, 403, "rooms/other"},
		{"one beyond the claim among allowed", streamPath([]string{"rooms/team-a", "rooms/secret"}), team, 403, "rooms/secret"},
		{"claim pattern deeper than it matches", streamPath([]string{"rooms/team-a/x"}), team, 403, "rooms/team-a/x"},
		{"repeated parameter beyond the claim", "/v1/stream?channels=rooms/team-a&channels=rooms/secret", team, 403, "rooms/secret"},
		{"public without a token", streamPath([]string{"news/today"}), "", 401, "news/today"},
		{"anonymous and public without a token", streamPath([]string{"status/api", "news/today"}), "", 401, "news/today"},
		{"no channels and no token", "/v1/stream", "", 401, ""},
		// A query parameter never widens the token: the header's token is
		// the one judged, whatever access_token the query adds, and a
		// plain token in the query opens no claimed channel.
		{"plain access_token in the query", streamPath([]string{"rooms/team-a"}, "access_token="+plain), "", 403, "rooms/team-a"},
		{"claim access_token beside a plain header", streamPath([]string{"rooms/team-a"}, "access_token="+team), plain, 403, "rooms/team-a"},
		{"claims in the query", streamPath([]string{"rooms/team-a"}, "channels_claim=rooms/*", "claims=rooms/*", "user_id=tom"), plain, 403, "rooms/team-a"},
		{"over the limit", streamPath([]string{"news/a", "news/b", "news/c", "news/d"}), plain, 400, ""},
		{"at the limit with repeats", streamPath([]string{"news/a", "news/b", "news/c", "news/a", "news/b"}), plain, 200, ""},
		{"malformed name", streamPath([]string{"news/a b"}), plain, 400, ""},
		{"overlong name", streamPath([]string{"news/" + strings.Repeat("x", 300)}), plain, 400, ""},
		{"control character", "/v1/stream?channels=news/%0a", plain, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.tok != "" {
				h["Authorization"] = "Bearer " + tc.tok
			}
			st := openStream(t, s.HTTPAddr, tc.path, h)
			defer st.Close()
			checkRefusal(t, st, tc.status, tc.names)
		})
	}

	// A malformed Last-Event-ID is refused with 400 before the stream
	// starts, in the header and in the query.
	for _, id := range []string{"x", "1_", "_", "1_abc", "1_a.b_a.c", "1_B.1", "1_a.01", "-1", "1_a.1_a.2", strings.Repeat("9", 30)} {
		st := openStream(t, s.HTTPAddr, streamPath([]string{"news/today"}), map[string]string{
			"Authorization": "Bearer " + plain, "Last-Event-ID": id,
		})
		if st.resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Last-Event-ID %q: status %d, want 400", id, st.resp.StatusCode)
		}
		st.Close()
		st = openStream(t, s.HTTPAddr, streamPath([]string{"news/today"}, "lastEventId="+url.QueryEscape(id)), map[string]string{
			"Authorization": "Bearer " + plain,
		})
		if st.resp.StatusCode != http.StatusBadRequest {
			t.Errorf("lastEventId=%q: status %d, want 400", id, st.resp.StatusCode)
		}
		st.Close()
	}

	t.Run("history", func(t *testing.T) { testChannelHistoryAuth(t, s, plain, team) })
	t.Run("grpc", func(t *testing.T) { testChannelGRPCAuth(t, s, plain, team) })
	t.Run("anonymous stream has no inbox", func(t *testing.T) { testAnonymousNoInbox(t, s) })
}

// checkRefusal checks a stream's status, and for a refusal that its JSON
// error names the channel.
func checkRefusal(t *testing.T, st *rawStream, want int, names string) {
	t.Helper()
	if st.resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
		t.Fatalf("status %d (%s), want %d", st.resp.StatusCode, b, want)
	}
	if want == http.StatusOK {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Code == "" {
		t.Fatalf("error body %q: %v", b, err)
	}
	if !strings.Contains(body.Error.Message, names) {
		t.Errorf("error %q does not name %q", body.Error.Message, names)
	}
	if want == http.StatusUnauthorized && st.resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
}

// testChannelHistoryAuth: GET /v1/channels/{channel}/events is open as the
// channel's stream is.
func testChannelHistoryAuth(t *testing.T, s *server, plain, team string) {
	for _, tc := range []struct {
		channel, tok string
		status       int
	}{
		{"news/today", plain, 200},
		{"rooms/team-a", team, 200},
		{"rooms/team-a", plain, 403},
		{"rooms/other", team, 403},
		{"status/api", "", 200},
		{"news/today", "", 401},
		{"rooms/team-a", "", 401},
		{"news/a%20b", plain, 400},
	} {
		h := map[string]string{}
		if tc.tok != "" {
			h["Authorization"] = "Bearer " + tc.tok
		}
		code, body := restCall(t, s, http.MethodGet, "/v1/channels/"+tc.channel+"/events", h, nil, nil)
		if code != tc.status {
			t.Errorf("history of %s (token %v): %d %s, want %d", tc.channel, tc.tok != "", code, body, tc.status)
		}
		if code == http.StatusForbidden && !strings.Contains(string(body), tc.channel) {
			t.Errorf("history of %s: refusal %s does not name the channel", tc.channel, body)
		}
	}
}

// testChannelGRPCAuth: the gRPC stream and ChannelService refuse as SSE
// does, with PermissionDenied naming the channel.
func testChannelGRPCAuth(t *testing.T, s *server, plain, team string) {
	for _, tc := range []struct {
		channels []string
		tok      string
		code     codes.Code
	}{
		{[]string{"news/today"}, plain, codes.OK},
		{[]string{"rooms/team-a", "status/api"}, team, codes.OK},
		{[]string{"rooms/team-a"}, plain, codes.PermissionDenied},
		{[]string{"rooms/team-a", "rooms/secret"}, team, codes.PermissionDenied},
		{[]string{"news/a", "news/b", "news/c", "news/d"}, plain, codes.InvalidArgument},
		{[]string{"news/a b"}, plain, codes.InvalidArgument},
	} {
		_, cancel, err := grpcChanStream(t, s, tc.tok, tc.channels, "")
		if cancel != nil {
			cancel()
		}
		if got := status.Code(err); got != tc.code {
			t.Errorf("gRPC stream of %v: %v, want %v", tc.channels, err, tc.code)
		}
		if tc.code == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), tc.channels[len(tc.channels)-1]) {
			t.Errorf("gRPC stream of %v: %q does not name the refused channel", tc.channels, status.Convert(err).Message())
		}
	}
	if _, _, err := grpcChanStream(t, s, plain, []string{"news/today"}, "1_zz"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("gRPC stream with a malformed cursor: %v, want InvalidArgument", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cc := heraldv1.NewChannelServiceClient(grpcConn(t, s.GRPCAddr))
	for _, tc := range []struct {
		channel, tok string
		code         codes.Code
	}{
		{"rooms/team-a", team, codes.OK},
		{"rooms/team-a", plain, codes.PermissionDenied},
		{"status/api", "", codes.OK},
		{"rooms/team-a", "", codes.Unauthenticated},
	} {
		cctx := ctx
		if tc.tok != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.tok)
		}
		_, err := cc.ListChannelEvents(cctx, &heraldv1.ListChannelEventsRequest{Channel: tc.channel})
		if got := status.Code(err); got != tc.code {
			t.Errorf("ListChannelEvents(%s, token %v): %v, want %v", tc.channel, tc.tok != "", err, tc.code)
		}
	}
}

// testAnonymousNoInbox: a stream with no token carries its channels and
// never an inbox, whatever user the request names; its cursor holds no
// inbox position. Events are published through REST POST /v1/notify.
func testAnonymousNoInbox(t *testing.T, s *server) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st := openStream(t, s.HTTPAddr, streamPath([]string{"status/api"}, "user_id=ann", "user=ann"), nil)
	checkRefusal(t, st, http.StatusOK, "")
	r := sseReader{st}
	for i := range 3 {
		// The user's notification first, then the channel's: were the
		// inbox on the stream, its event would come first.
		if err := restNotify(ctx, s.URL(""), `{"audience":{"user_ids":["ann"]},"title":"inbox #1"}`); err != nil {
			t.Fatal(err)
		}
		if err := restNotify(ctx, s.URL(""), fmt.Sprintf(`{"audience":{"channels":["status/api"]},"type":"status.changed","title":%q}`, seqTitle("status/api", i+1))); err != nil {
			t.Fatal(err)
		}
		ev, err := r.next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Source != "status/api" || ev.Title != seqTitle("status/api", i+1) {
			t.Fatalf("anonymous stream got %+v, want status/api #%d", ev, i+1)
		}
		if !strings.HasPrefix(ev.Cursor, "_") {
			t.Errorf("anonymous stream's cursor %q holds an inbox position", ev.Cursor)
		}
	}
	// A notification naming the user and the channel arrives once, as the
	// channel's.
	if err := restNotify(ctx, s.URL(""), `{"audience":{"user_ids":["ann"],"channels":["status/api"]},"title":"status/api #4"}`); err != nil {
		t.Fatal(err)
	}
	if err := restNotify(ctx, s.URL(""), `{"audience":{"channels":["status/api"]},"title":"status/api #5"}`); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"status/api #4", "status/api #5"} {
		if ev, err := r.next(10 * time.Second); err != nil || ev.Title != want || ev.Source != "status/api" {
			t.Fatalf("anonymous stream got %+v (%v), want %s", ev, err, want)
		}
	}
}
