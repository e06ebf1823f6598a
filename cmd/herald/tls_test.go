package main_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

// issue returns a PEM certificate and key signed by ca: a server
// certificate for 127.0.0.1, or a client certificate.
func (ca *testCA) issue(t testing.TB, serial int64, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("herald-test-%d", serial)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// writeFileAtomic replaces name's content in one rename, as certificate
// tools do.
func writeFileAtomic(t testing.TB, name string, b []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// tlsFiles writes a server certificate of ca (and the CA itself) to dir.
func tlsFiles(t testing.TB, ca *testCA, dir string, serial int64) (certFile, keyFile, caFile string) {
	t.Helper()
	c, k := ca.issue(t, serial, true)
	certFile, keyFile, caFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), filepath.Join(dir, "ca.pem")
	writeFileAtomic(t, keyFile, k)
	writeFileAtomic(t, certFile, c)
	writeFileAtomic(t, caFile, ca.pem)
	return certFile, keyFile, caFile
}

func grpcTLSConn(t testing.TB, addr string, tc *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// httpsClient speaks HTTP/2 (ALPN) or, with h1, HTTP/1.1 only.
func httpsClient(pool *x509.CertPool, h1 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	if h1 {
		var p http.Protocols
		p.SetHTTP1(true)
		tr.Protocols = &p
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// readSSEUntil reads an SSE body until a data line contains want.
func readSSEUntil(t testing.TB, body io.Reader, want string, d time.Duration) {
	t.Helper()
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), want) {
				found <- nil
				return
			}
		}
		found <- fmt.Errorf("stream ended: %v", sc.Err())
	}()
	select {
	case err := <-found:
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
	case <-time.After(d):
		t.Fatalf("no event %q within %v", want, d)
	}
}

// TestTLSAndMutualTLS: with a certificate, HTTP serves SSE over HTTP/2 and
// HTTP/1.1; with a client CA, NotifyService needs a client certificate (and
// the API key), InboxService does not, and REST Notify is refused since the
// service API is then gRPC only.
func TestTLSAndMutualTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "herald test CA")
	dir := t.TempDir()
	certFile, keyFile, caFile := tlsFiles(t, ca, dir, 100)
	clientPEM, clientKeyPEM := ca.issue(t, 200, false)
	clientCert, err := tls.X509KeyPair(clientPEM, clientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, withArgs("--tls-cert="+certFile, "--tls-key="+keyFile, "--tls-client-ca="+caFile))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	withCert := heraldv1.NewNotifyServiceClient(grpcTLSConn(t, s.GRPCAddr, &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{clientCert}}))
	noCertConn := grpcTLSConn(t, s.GRPCAddr, &tls.Config{RootCAs: ca.pool})

	for _, tc := range []struct {
		name string
		h1   bool
		want int
	}{{"http2", false, 2}, {"http1", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			user := "tls-" + tc.name
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+s.HTTPAddr+"/v1/stream", nil)
			req.Header.Set("Authorization", "Bearer "+token(t, user))
			resp, err := httpsClient(ca.pool, tc.h1).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != tc.want {
				t.Fatalf("stream: got %d over HTTP/%d, want 200 over HTTP/%d", resp.StatusCode, resp.ProtoMajor, tc.want)
			}
			if _, err := notifyUser(ctx, withCert, user, "over-tls-"+tc.name); err != nil {
				t.Fatalf("notify with client cert and key: %v", err)
			}
			readSSEUntil(t, resp.Body, "over-tls-"+tc.name, 10*time.Second)
		})
	}

	// The API key alone is not enough without a client certificate.
	_, err = notifyUser(ctx, heraldv1.NewNotifyServiceClient(noCertConn), "tls-http2", "no-cert")
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("notify without client cert: got %v, want Unauthenticated", err)
	}
	_, err = heraldv1.NewSubscriptionServiceClient(noCertConn).ListUserTopics(withKey(ctx), &heraldv1.ListUserTopicsRequest{UserId: "u"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("subscriptions without client cert: got %v, want Unauthenticated", err)
	}
	// ...nor is a certificate without the key.
	_, err = withCert.Notify(ctx, &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
		Audience: &heraldv1.Audience{UserIds: []string{"u"}}, Title: "no key",
	}})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("notify with cert but no key: got %v, want Unauthenticated", err)
	}

	// A user needs no client certificate: the inbox over gRPC TLS with a token.
	uctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token(t, "tls-http2"))
	inbox, err := heraldv1.NewInboxServiceClient(noCertConn).ListInbox(uctx, &heraldv1.ListInboxRequest{})
	if err != nil {
		t.Fatalf("inbox over TLS without client cert: %v", err)
	}
	if len(inbox.GetEntries()) != 1 {
		t.Fatalf("inbox: got %d items, want 1", len(inbox.GetEntries()))
	}

	// REST has no client certificate to pass on: its service calls are refused.
	code, body, err := restNotifyAt(ctx, httpsClient(ca.pool, false), "https://"+s.HTTPAddr, notifyBody("rest", "u"))
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusUnauthorized {
		t.Fatalf("REST notify under mTLS: got %d %s, want 401", code, body)
	}
}

// servedSerial is the serial of the certificate a new TLS connection to addr
// gets.
func servedSerial(t testing.TB, addr string, pool *x509.CertPool, nextProto string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{nextProto}})
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTLSCertificateRotation: rewriting the certificate files changes what
// new connections get, on both ports, without a restart; REST (whose
// gateway dials the gRPC port over TLS) works before and after.
func TestTLSCertificateRotation(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "herald rotation CA")
	dir := t.TempDir()
	certFile, keyFile, _ := tlsFiles(t, ca, dir, 300)
	s := startServer(t, withArgs("--tls-cert="+certFile, "--tls-key="+keyFile))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	notifyTLS := func(title string) {
		t.Helper()
		code, body, err := restNotifyAt(ctx, httpsClient(ca.pool, false), "https://"+s.HTTPAddr, notifyBody(title, "rot"))
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK {
			t.Fatalf("REST notify over TLS: got %d %s, want 200", code, body)
		}
	}
	notifyTLS("before")
	for _, addr := range []string{s.HTTPAddr, s.GRPCAddr} {
		if got := servedSerial(t, addr, ca.pool, "h2"); got != "300" {
			t.Fatalf("%s serves serial %s, want 300", addr, got)
		}
	}

	tlsFiles(t, ca, dir, 301)
	for _, addr := range []string{s.HTTPAddr, s.GRPCAddr} {
		got := ""
		waitFor(t, 15*time.Second, func() bool { got = servedSerial(t, addr, ca.pool, "h2"); return got == "301" }, func() string {
			return fmt.Sprintf("%s still serves serial %s after rotation, want 301", addr, got)
		})
	}
	notifyTLS("after")
	if !strings.Contains(s.Logs(), "certificate reloaded") {
		t.Error("no reload logged")
	}
}
