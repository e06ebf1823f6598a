package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/internal/kafka"
)

func TestSecurityValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sec  kafka.Security
		want string // substring of the error; empty: valid
	}{
		{"zero is plaintext", kafka.Security{}, ""},
		{"tls with system roots", kafka.Security{TLS: true}, ""},
		{"tls with every setting", kafka.Security{TLS: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "kafka", InsecureSkipVerify: true}, ""},
		{"plain, any case", kafka.Security{SASLMechanism: "PLAIN", Username: "u", Password: "p"}, ""},
		{"scram-sha-256", kafka.Security{SASLMechanism: "scram-sha-256", Username: "u", Password: "p"}, ""},
		{"scram-sha-512", kafka.Security{SASLMechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}, ""},
		{"unknown mechanism", kafka.Security{SASLMechanism: "gssapi", Username: "u", Password: "p"}, `unknown SASL mechanism "gssapi"`},
		{"mechanism without username", kafka.Security{SASLMechanism: "plain", Password: "p"}, "needs a username and a password"},
		{"mechanism without password", kafka.Security{SASLMechanism: "scram-sha-256", Username: "u"}, "needs a username and a password"},
		{"credentials without mechanism", kafka.Security{Username: "u", Password: "p"}, "no SASL mechanism"},
		{"cert without key", kafka.Security{TLS: true, CertFile: "c.pem"}, "one is missing"},
		{"key without cert", kafka.Security{TLS: true, KeyFile: "k.pem"}, "one is missing"},
		{"ca without tls", kafka.Security{CAFile: "ca.pem"}, "TLS is off"},
		{"skip verify without tls", kafka.Security{InsecureSkipVerify: true}, "TLS is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.sec.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSecurityFileErrors(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := writeFile(t, dir, "garbage.pem", []byte("not a certificate"))
	tests := []struct {
		name   string
		sec    kafka.Security
		want   string // substring of the error
		target error  // what the error wraps, if anything in particular
	}{
		{"missing ca", kafka.Security{TLS: true, CAFile: missing}, missing, fs.ErrNotExist},
		{"ca not pem", kafka.Security{TLS: true, CAFile: garbage}, garbage, nil},
		{"missing cert", kafka.Security{TLS: true, CertFile: missing, KeyFile: pki.clientKeyFile}, missing, fs.ErrNotExist},
		{"key not pem", kafka.Security{TLS: true, CertFile: pki.clientCertFile, KeyFile: garbage}, garbage, nil},
		{"key of another cert", kafka.Security{TLS: true, CertFile: pki.clientCertFile, KeyFile: pki.serverKeyFile}, pki.serverKeyFile, nil},
		{"invalid config", kafka.Security{SASLMechanism: "nope"}, "unknown SASL mechanism", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := kafka.Config{Brokers: []string{"127.0.0.1:1"}, Security: tt.sec}
			_, err := kafka.NewConsumer(cfg, newFakeNotifier(1), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewConsumer error = %v, want it to contain %q", err, tt.want)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("NewConsumer error = %v, want it to wrap %v", err, tt.target)
			}
			if _, err := tt.sec.Dialer(); err == nil {
				t.Error("Dialer() succeeded, want an error")
			}
			if _, err := tt.sec.Transport(); err == nil {
				t.Error("Transport() succeeded, want an error")
			}
		})
	}
}

func TestConsumerOverTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	tests := []struct {
		name   string
		mutual bool // the broker requires a client certificate
		sec    kafka.Security
	}{
		{"ca file", false, kafka.Security{TLS: true, CAFile: pki.caFile}},
		{"mutual tls", true, kafka.Security{TLS: true, CAFile: pki.caFile, CertFile: pki.clientCertFile, KeyFile: pki.clientKeyFile}},
		{"server name override", false, kafka.Security{TLS: true, CAFile: pki.caFile, ServerName: "kafka.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const topic = "notes"
			addrs := startSecureCluster(t, topic, kfake.TLS(pki.serverTLS(tt.mutual)))
			consumeOne(t, addrs, topic, tt.sec)
		})
	}
}

func TestConsumerWithSASL(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			const topic = "notes"
			addrs := startSecureCluster(t, topic, kfake.EnableSASL(), kfake.Superuser(mech, "herald", "s3cret"))
			consumeOne(t, addrs, topic, kafka.Security{SASLMechanism: strings.ToLower(mech), Username: "herald", Password: "s3cret"})
		})
	}
}

// With TLS and SASL together, as on most managed clusters.
func TestConsumerWithTLSAndSASL(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	const topic = "notes"
	addrs := startSecureCluster(t, topic, kfake.TLS(pki.serverTLS(false)),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "herald", "s3cret"))
	consumeOne(t, addrs, topic, kafka.Security{TLS: true, CAFile: pki.caFile,
		SASLMechanism: "scram-sha-512", Username: "herald", Password: "s3cret"})
}

// A consumer the brokers refuse stores nothing and keeps retrying, which
// the consumer logs, until it is stopped; stopping it is then clean.
func TestConsumerWithWrongPassword(t *testing.T) {
	t.Parallel()
	const topic = "notes"
	addrs := startSecureCluster(t, topic, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "herald", "s3cret"))
	good := kafka.Security{SASLMechanism: "scram-sha-256", Username: "herald", Password: "s3cret"}
	produceSecure(t, addrs, topic, good, notification("alice", "hello"))

	bad := good
	bad.Password = "wrong"
	logs := &recordingHandler{}
	n := newFakeNotifier(1)
	c, err := kafka.NewConsumer(kafka.Config{Brokers: addrs, Topic: topic, MaxWait: 100 * time.Millisecond, Security: bad},
		n, slog.New(logs))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	// kafka-go reports the refusal through the error logger and retries;
	// Run goes on until it is stopped.
	logs.waitFor(t, slog.LevelWarn, "SASL Authentication Failed", testTimeout)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before it was stopped", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("Run did not return within %v of cancel", testTimeout)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.calls != 0 {
		t.Errorf("notifier called %d times with a refused password, want 0", n.calls)
	}
}

// consumeOne produces a notification over sec and checks that a consumer
// using sec stores it.
func consumeOne(t *testing.T, addrs []string, topic string, sec kafka.Security) {
	t.Helper()
	produceSecure(t, addrs, topic, sec, notification("alice", "hello"))
	n := newFakeNotifier(1)
	stop := startConsumer(t, kafka.Config{Brokers: addrs, Topic: topic, Security: sec}, n)
	n.wait(t)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if got := n.byUser["alice"]; len(got) != 1 || got[0] != "hello" {
		t.Errorf("alice's notifications = %q, want [hello]", got)
	}
}

func notification(user, title string) kafkago.Message {
	return kafkago.Message{Key: []byte(user), Value: []byte(`{"audience":{"userIds":["` + user + `"]},"title":"` + title + `"}`)}
}

// startSecureCluster starts an in-process Kafka on 127.0.0.1 with topic and
// its dead-letter topic, one partition each.
func startSecureCluster(t *testing.T, topic string, opts ...kfake.Opt) []string {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, topic, topic+".dlq")}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func produceSecure(t *testing.T, addrs []string, topic string, sec kafka.Security, msgs ...kafkago.Message) {
	t.Helper()
	tr, err := sec.Transport()
	if err != nil {
		t.Fatalf("Transport: %v", err)
	}
	defer tr.CloseIdleConnections()
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(addrs...),
		Topic:        topic,
		Transport:    tr,
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce over %+v: %v", sec, err)
	}
}

// testPKI is a throwaway CA with a certificate for a broker on 127.0.0.1
// and one for a client, all as PEM files.
type testPKI struct {
	caFile                        string
	serverCert                    tls.Certificate
	serverKeyFile                 string
	clientCertFile, clientKeyFile string
	pool                          *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"kafka.test"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("create %s certificate: %v", name, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatalf("marshal %s key: %v", name, err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	serverCertPEM, serverKeyPEM := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	clientCertPEM, clientKeyPEM := issue(3, "herald", x509.ExtKeyUsageClientAuth)
	serverCert, err := tls.X509KeyPair(serverCertPEM, serverKeyPEM)
	if err != nil {
		t.Fatalf("server key pair: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{
		caFile:         writeFile(t, dir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		serverCert:     serverCert,
		serverKeyFile:  writeFile(t, dir, "server-key.pem", serverKeyPEM),
		clientCertFile: writeFile(t, dir, "client.pem", clientCertPEM),
		clientKeyFile:  writeFile(t, dir, "client-key.pem", clientKeyPEM),
		pool:           pool,
	}
}

// serverTLS is the broker's TLS config; mutual requires client
// certificates issued by the CA.
func (p *testPKI) serverTLS(mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = p.pool
	}
	return c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordingHandler keeps the records logged through it and signals each.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{}
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
	return nil
}

// waitFor waits at most d for a record at level or above whose message
// contains substr.
func (h *recordingHandler) waitFor(t *testing.T, level slog.Level, substr string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		h.mu.Lock()
		for _, r := range h.records {
			if r.Level >= level && strings.Contains(r.Message, substr) {
				h.mu.Unlock()
				return
			}
		}
		ch := make(chan struct{})
		h.changed = ch
		h.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %v record containing %q logged within %v", level, substr, d)
		}
	}
}
