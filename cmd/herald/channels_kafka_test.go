package main_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestChannelKafkaWithKcat: kcat, an outside Kafka client, produces JSON
// notifications whose audience names channels into herald's embedded
// broker; the channels' listeners (a token's stream with the inbox, an
// anonymous one) receive them once, each in its channel, and a message
// naming a user and a channel reaches both.
func TestChannelKafkaWithKcat(t *testing.T) {
	t.Parallel()
	kcat := testenv.NeedCommand(t, "kcat", "Debian package kcat")
	s := startServer(t, withArgs("--kafka-embedded", "--kafka-embedded-addr=127.0.0.1:0",
		"--public-channels=rooms/*", "--anonymous-channels=status/*"))
	if s.KafkaAddr == "" {
		t.Fatalf("no embedded broker address in the start log:\n%s", s.Logs())
	}
	member := sseOpener(s, token(t, "kim"))(t, []string{"rooms/kafka"}, "")
	anon := openStream(t, s.HTTPAddr, streamPath([]string{"status/kafka"}), nil)
	checkRefusal(t, anon, 200, "")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", s.KafkaAddr, "-t", "herald.notifications", "-K", "\t")
	// Key TAB value, one message per line; the same key twice is one event.
	cmd.Stdin = strings.NewReader(
		"c-1\t{\"audience\":{\"channels\":[\"rooms/kafka\"]},\"type\":\"chat.message\",\"title\":\"rooms/kafka #1\"}\n" +
			"c-1\t{\"audience\":{\"channels\":[\"rooms/kafka\"]},\"type\":\"chat.message\",\"title\":\"rooms/kafka #1\"}\n" +
			"c-2\t{\"audience\":{\"channels\":[\"rooms/kafka\",\"status/kafka\"]},\"title\":\"both\"}\n" +
			"c-3\t{\"audience\":{\"user_ids\":[\"kim\"],\"channels\":[\"status/kafka\"]},\"title\":\"user and status\"}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}

	// Messages of different keys may be on different partitions, so the
	// events come in any order.
	expect := func(r chanReader, who string, want ...string) {
		t.Helper()
		left := make(map[string]bool, len(want))
		for _, w := range want {
			left[w] = true
		}
		for len(left) > 0 {
			ev, err := r.next(20 * time.Second)
			if err != nil {
				t.Fatalf("%s: %v (still waiting for %v)", who, err, left)
			}
			key := ev.Source + ": " + ev.Title
			if ev.Reset || !left[key] {
				t.Fatalf("%s: unexpected or repeated %+v", who, ev)
			}
			delete(left, key)
		}
	}
	expect(member, "member", "rooms/kafka: rooms/kafka #1", "rooms/kafka: both", "inbox: user and status")
	expect(sseReader{anon}, "anonymous listener", "status/kafka: both", "status/kafka: user and status")
	// Nothing else follows: the second c-1 message was a duplicate.
	if err := publish(ctx, s.notifyClient(t), "sentinel", nil, []string{"rooms/kafka"}); err != nil {
		t.Fatal(err)
	}
	if ev, err := member.next(10 * time.Second); err != nil || ev.Title != "sentinel" {
		t.Fatalf("after the Kafka events came %+v (%v), want the sentinel", ev, err)
	}
}
