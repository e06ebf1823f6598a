package main_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestKafkaEmbeddedWithKcat produces a JSON notification with kcat, an
// outside Kafka client, into herald's embedded broker: a stream of the user
// receives it, and a bad message goes to the dead-letter topic instead of
// stopping the partition.
func TestKafkaEmbeddedWithKcat(t *testing.T) {
	t.Parallel()
	kcat := testenv.NeedCommand(t, "kcat", "Debian package kcat")
	s := startServer(t, withArgs("--kafka-embedded", "--kafka-embedded-addr=127.0.0.1:0"))
	if s.KafkaAddr == "" {
		t.Fatalf("no embedded broker address in the start log:\n%s", s.Logs())
	}
	st := s.streamFor(t, "kafkauser", "")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	produce := func(lines string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", s.KafkaAddr, "-t", "herald.notifications", "-K", "\t")
		cmd.Stdin = strings.NewReader(lines)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
	}
	// Key TAB value, one message per line; the same key twice is one entry.
	produce("k-bad\t{not json\n" +
		"k-1\t{\"audience\":{\"user_ids\":[\"kafkauser\"]},\"type\":\"build.done\",\"title\":\"From Kafka\"}\n" +
		"k-1\t{\"audience\":{\"user_ids\":[\"kafkauser\"]},\"type\":\"build.done\",\"title\":\"From Kafka\"}\n")
	produce("k-2\t{\"audience\":{\"userIds\":[\"kafkauser\"]},\"title\":\"Second\"}\n")

	want := map[string]bool{"From Kafka": true, "Second": true}
	for len(want) > 0 {
		_, p, err := st.NextNotification(20 * time.Second)
		if err != nil {
			t.Fatalf("stream: %v (still waiting for %v)", err, want)
		}
		if !want[p.Title] {
			t.Fatalf("unexpected or repeated event %q", p.Title)
		}
		delete(want, p.Title)
	}
	// Nothing else follows: the second k-1 message was a duplicate.
	if _, err := notifyUser(ctx, s.notifyClient(t), "kafkauser", "sentinel"); err != nil {
		t.Fatal(err)
	}
	if _, p, err := st.NextNotification(10 * time.Second); err != nil || p.Title != "sentinel" {
		t.Fatalf("after the Kafka events came %q (err %v), want the sentinel", p.Title, err)
	}

	// The bad message is in the dead-letter topic with its reason.
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", s.KafkaAddr, "-t", "herald.notifications.dlq",
		"-o", "beginning", "-c", "1", "-e", "-f", "%k %h\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat consume dlq: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "k-bad") || !strings.Contains(string(out), "x-herald-error=decode") {
		t.Errorf("dead letter = %q, want key k-bad with x-herald-error=decode", out)
	}
}
