package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
)

func TestChannelPolicy(t *testing.T) {
	t.Parallel()
	p := auth.ChannelPolicy{Public: []string{"news/*"}, Anonymous: []string{"status"}}
	token := &auth.Claims{User: "alice", Channels: []string{"rooms/team-*", "scores/match-42"}}
	tests := []struct {
		claims *auth.Claims
		ch     notify.Channel
		ok     bool
	}{
		{token, "news/today", true},      // public
		{token, "news/a/b", false},       // * stops at a slash
		{token, "rooms/team-red", true},  // the token's claim
		{token, "rooms/other", false},    // matched by nothing
		{token, "scores/match-42", true}, // a literal claim
		{token, "status", true},          // anonymous channels are open to tokens too
		{nil, "status", true},            // and to no token
		{nil, "news/today", false},       // public needs a token
		{nil, "rooms/team-red", false},   // a claim without a token
		{&auth.Claims{User: "bob"}, "rooms/team-red", false},
	}
	for _, tt := range tests {
		err := p.Allow(tt.claims, tt.ch)
		if (err == nil) != tt.ok {
			t.Errorf("Allow(%v, %q) = %v, want ok=%v", tt.claims != nil, tt.ch, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, auth.ErrChannelDenied) || !strings.Contains(err.Error(), string(tt.ch))) {
			t.Errorf("Allow(%q) error %q does not name the channel", tt.ch, err)
		}
	}
}

func TestChannelsClaim(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", auth.MinHS256SecretLen))
	v, err := auth.NewHS256(secret, auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := auth.Token{User: "alice", TTL: time.Hour, Channels: []string{"rooms/*"}}.SignHS256(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Channels) != 1 || c.Channels[0] != "rooms/*" {
		t.Fatalf("Channels = %q, want [rooms/*]", c.Channels)
	}
	if _, err := (auth.Token{User: "alice", TTL: time.Hour, Channels: []string{"rooms/["}}).SignHS256(secret, now); err == nil {
		t.Error("a malformed pattern was signed")
	}
}

// FuzzListen feeds the channel list a stream asks for: whatever comes in,
// what is let through is valid, allowed, within the limit and without
// repeats, and a refusal names a valid channel or none.
func FuzzListen(f *testing.F) {
	for _, s := range []string{"rooms/a", "rooms/a,rooms/a", "news/x,status", "a b", ",,", "rooms/[", strings.Repeat("x,", 20)} {
		f.Add(s, true)
	}
	p := auth.ChannelPolicy{Public: []string{"news/*"}, Anonymous: []string{"status"}}
	f.Fuzz(func(t *testing.T, list string, token bool) {
		var claims *auth.Claims
		if token {
			claims = &auth.Claims{User: "u", Channels: []string{"rooms/*"}}
		}
		got, err := p.Listen(claims, strings.Split(list, ","), 4)
		if err != nil {
			return
		}
		if len(got) > 4 {
			t.Fatalf("Listen let %d channels through, limit 4", len(got))
		}
		seen := map[notify.Channel]bool{}
		for _, ch := range got {
			if _, err := notify.ParseChannel(string(ch)); err != nil || seen[ch] || p.Allow(claims, ch) != nil {
				t.Fatalf("Listen(%q) let %q through", list, ch)
			}
			seen[ch] = true
		}
	})
}
