package limit_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/limit"
)

// acceptAll accepts on lis until it closes, handing accepted conns out.
func acceptAll(t *testing.T, lis net.Listener) <-chan net.Conn {
	t.Helper()
	out := make(chan net.Conn, 16)
	go func() {
		defer close(out)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	return out
}

func TestConnsPerIPRefusesOverMax(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	lis := limit.ConnsPerIP(raw, 2, limit.ConnOptions{Reply: limit.HTTPTooManyConns, Registerer: reg})
	defer lis.Close()
	accepted := acceptAll(t, lis)

	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", raw.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	recv := func() net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("connection not accepted")
			return nil
		}
	}
	dial()
	dial()
	s1, s2 := recv(), recv()
	defer s2.Close()

	// The third is answered 429 and closed, never handed to the server.
	c3 := dial()
	_, _ = io.WriteString(c3, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c3), nil)
	if err != nil {
		t.Fatalf("refused conn: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "resource_exhausted") {
		t.Fatalf("refused conn: got %d %s, want 429 resource_exhausted", resp.StatusCode, body)
	}
	select {
	case c := <-accepted:
		t.Fatalf("over-limit connection from %v reached the server", c.RemoteAddr())
	default:
	}
	if got := counterValue(t, reg, "herald_limit_connections_refused_total"); got != 1 {
		t.Fatalf("refused counter: got %v, want 1", got)
	}

	// Closing one twice gives back exactly one slot.
	s1.Close()
	s1.Close()
	dial()
	s4 := recv()
	defer s4.Close()
	c5 := dial()
	_ = c5.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c5), nil); err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after one release, a second new conn: got %v %v, want 429", resp, err)
	}
}

func TestConnsPerIPUnlimited(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if got := limit.ConnsPerIP(raw, 0, limit.ConnOptions{}); got != raw {
		t.Fatal("max 0 wrapped the listener, want it unchanged")
	}
}
