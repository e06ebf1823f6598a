package app

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// serveTest serves a handler that answers 204 through a.httpServer on a
// loopback listener, and returns its address.
func serveTest(t *testing.T, a *App) string {
	t.Helper()
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	srv := a.httpServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if a.certs != nil {
			_ = srv.ServeTLS(lis, "", "")
		} else {
			_ = srv.Serve(lis)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return lis.Addr().String()
}

// testCerts returns a certReloader serving a fresh self-signed certificate.
func testCerts(t *testing.T) *certReloader {
	t.Helper()
	dir := t.TempDir()
	c, k := selfSigned(t, 1)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for name, b := range map[string][]byte{certFile: c, keyFile: k} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMaxHeaderBytesEdge sends HTTP/1.1 header blocks (request line to the
// blank line) around --max-header-bytes: a block of that size always
// passes, and the README's bounds past it hold. A new TLS connection's
// first request is bounded exactly. In plaintext net/http has already read
// 14 bytes (looking for an HTTP/2 preface) that its limit does not count;
// on a reused connection, up to 4096 bytes read while waiting for the
// request.
func TestMaxHeaderBytesEdge(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{config.MinHeaderBytes, 16 << 10, 64 << 10} {
		for _, secure := range []bool{false, true} {
			a := &App{cfg: config.Config{MaxHeaderBytes: limit, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}}
			if secure {
				a.certs = testCerts(t)
			}
			addr := serveTest(t, a)
			over := 1
			if !secure {
				over = 15
			}
			for _, tt := range []struct {
				reuse bool
				size  int
				want  int
			}{
				{false, limit, http.StatusNoContent},
				{false, limit + over, http.StatusRequestHeaderFieldsTooLarge},
				{true, limit, http.StatusNoContent},
				{true, limit + 4097, http.StatusRequestHeaderFieldsTooLarge},
			} {
				t.Run(fmt.Sprintf("tls %v, reused %v, %d of %d", secure, tt.reuse, tt.size, limit), func(t *testing.T) {
					if got := rawStatus(t, addr, secure, tt.reuse, tt.size); got != tt.want {
						t.Errorf("status = %d, want %d", got, tt.want)
					}
				})
			}
		}
	}
}

// rawStatus sends a GET whose header block is size bytes long on a new
// HTTP/1.1 connection, after a small one if reuse, and returns its status.
func rawStatus(t *testing.T, addr string, secure, reuse bool, size int) int {
	t.Helper()
	const head = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
	const tail = "\r\n\r\n"
	pad := size - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("size %d too small", size)
	}
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 5 * time.Second}
	if secure {
		conn, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // self-signed test certificate
			NextProtos:         []string{"http/1.1"},
		})
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	reqs := []string{head + strings.Repeat("a", pad) + tail}
	if reuse {
		reqs = append([]string{head + "a" + tail}, reqs...)
	}
	var status int
	for _, req := range reqs {
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		status = resp.StatusCode
	}
	return status
}

// TestHTTPCipherSuites checks that the HTTP port, like the gRPC port,
// refuses a TLS 1.2 client that offers only CBC suites, and takes one that
// offers an AEAD suite.
func TestHTTPCipherSuites(t *testing.T) {
	t.Parallel()
	a := &App{cfg: config.Config{MaxHeaderBytes: 16 << 10, ReadHeaderTimeout: 5 * time.Second}, certs: testCerts(t)}
	addr := serveTest(t, a)
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
	tests := []struct {
		name   string
		suites []uint16
		ok     bool
	}{
		{"cbc only", cbc, false},
		{"aes-gcm", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"chacha20", []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				InsecureSkipVerify: true, //nolint:gosec // self-signed test certificate
				MaxVersion:         tls.VersionTLS12,
				CipherSuites:       tt.suites,
			})
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("handshake error = %v, want ok %v", err, tt.ok)
			}
		})
	}
	if got, want := a.certs.serverConfig().CipherSuites, aeadSuites; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("HTTP suites = %v, want the gRPC port's %v", got, want)
	}
}

// TestHSTS checks Strict-Transport-Security: sent over HTTPS with the
// configured max-age, not sent in plaintext, and not at all with 0.
func TestHSTS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tls    bool
		maxAge time.Duration
		want   string
	}{
		{"https", true, 365 * 24 * time.Hour, "max-age=31536000"},
		{"https, short", true, 90 * time.Second, "max-age=90"},
		{"https, off", true, 0, ""},
		{"plaintext", false, 365 * 24 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &App{cfg: config.Config{MaxHeaderBytes: 16 << 10, ReadHeaderTimeout: 5 * time.Second, HSTSMaxAge: tt.maxAge}}
			scheme := "http"
			client := &http.Client{Timeout: 10 * time.Second}
			if tt.tls {
				a.certs = testCerts(t)
				scheme = "https"
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // self-signed test certificate
			}
			addr := serveTest(t, a)
			resp, err := client.Get(scheme + "://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Strict-Transport-Security"); got != tt.want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tt.want)
			}
		})
	}
}
