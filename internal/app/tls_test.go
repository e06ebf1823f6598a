package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate with serial and its PEM key.
func selfSigned(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func TestCertReloader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c1, k1 := selfSigned(t, 1)
	write(certFile, c1)
	write(keyFile, k1)
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		t.Helper()
		r.mu.Lock()
		r.checked = time.Time{} // due for a look
		r.mu.Unlock()
		c, err := r.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial: got %d, want 1", got)
	}

	// Half-rotated: a new certificate with the old key does not load; the
	// old pair stays in service.
	c2, k2 := selfSigned(t, 2)
	write(certFile, c2)
	if got := serial(); got != 1 {
		t.Fatalf("serial with a mismatched pair: got %d, want 1", got)
	}
	write(keyFile, k2)
	if got := serial(); got != 2 {
		t.Fatalf("serial after rotation: got %d, want 2", got)
	}
	// Not looked at again before certCheckEvery.
	c4, k4 := selfSigned(t, 4)
	write(certFile, c4)
	write(keyFile, k4)
	r.mu.Lock()
	r.checked = time.Now()
	r.mu.Unlock()
	if c, _ := r.GetCertificate(&tls.ClientHelloInfo{}); c.Leaf.SerialNumber.Int64() != 2 {
		t.Fatalf("files looked at again before %v", certCheckEvery)
	}
}
