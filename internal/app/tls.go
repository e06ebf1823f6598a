package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/heraldhq/herald/internal/rpc"
)

// certCheckEvery is the least time between two looks at the certificate
// files' modification times: a handshake pays for two stats at most this
// often.
const certCheckEvery = 2 * time.Second

// certReloader serves the certificate of --tls-cert and --tls-key to both
// listeners and reads the files again once they change (or on SIGHUP), so
// that a renewed certificate is used by the next handshake without a
// restart. A pair that fails to load (say, the certificate rewritten and
// the key not yet) leaves the previous one in service and is tried again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of the files cert was loaded from
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.checked = time.Now()
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var st [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return st, err
		}
		st[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st, nil
}

// load reads the pair; r.mu is held or r is not shared yet.
func (r *certReloader) load() error {
	st, err := r.stamps()
	if err != nil {
		return fmt.Errorf("app: tls: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("app: tls: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &c, st
	return nil
}

// GetCertificate is the tls.Config hook of both listeners.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= certCheckEvery {
		r.checked = now
		r.reloadIfChanged(false)
	}
	return r.cert, nil
}

// reloadIfChanged loads the files again if their stamps moved, or always
// when forced; r.mu is held.
func (r *certReloader) reloadIfChanged(force bool) {
	st, err := r.stamps()
	if err == nil && st == r.stamp && !force {
		return
	}
	if err == nil {
		err = r.load()
	}
	if err != nil {
		r.log.Warn("tls: certificate not reloaded; serving the previous one", "error", err)
		return
	}
	if leaf := r.cert.Leaf; leaf != nil {
		r.log.Info("tls: certificate reloaded", "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	}
}

// run reloads the files on SIGHUP until ctx ends.
func (r *certReloader) run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.mu.Lock()
			r.checked = time.Now()
			r.reloadIfChanged(true)
			r.mu.Unlock()
		}
	}
}

// aeadSuites are the TLS 1.2 cipher suites of both ports: ECDHE with
// AES-GCM or ChaCha20-Poly1305, the list grpc-go keeps by default, without
// the CBC-SHA suites Go would also offer. TLS 1.3 suites are not
// configurable and are all AEAD.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverConfig is the TLS configuration of both listeners: TLS 1.2 and up,
// AEAD suites only; net/http adds h2 and http/1.1 to NextProtos.
func (r *certReloader) serverConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites, GetCertificate: r.GetCertificate}
}

// grpcServerOptions returns the gRPC server's transport options: TLS when
// configured, and the timeouts that close silent or idle connections; and,
// with mutual TLS, the unary interceptor that checks client certificates,
// which goes before the credential interceptors (REST runs it too, in
// process, where no call has a certificate).
func (a *App) grpcServerOptions() ([]grpc.ServerOption, []grpc.UnaryServerInterceptor, error) {
	opts := []grpc.ServerOption{
		// A connection has this long for its TLS handshake and HTTP/2
		// preface: the gRPC side of --read-header-timeout.
		grpc.ConnectionTimeout(a.cfg.ReadHeaderTimeout),
		// Idle connections are closed with GOAWAY; clients reconnect
		// transparently when they next call. A connection silent for a
		// heartbeat is pinged, and closed if the ping is not answered
		// within another: a client that vanished gives its streams' slots
		// back within two heartbeats, as SSE's do.
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: a.cfg.IdleTimeout,
			Time:              a.cfg.Heartbeat,
			Timeout:           a.cfg.Heartbeat,
		}),
		// Clients may ping to keep NAT and proxies open while they stream,
		// at most every 5 s; faster is answered with GOAWAY.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second}),
	}
	if a.cfg.TLSCert == "" {
		return opts, nil, nil
	}
	r, err := newCertReloader(a.cfg.TLSCert, a.cfg.TLSKey, a.log.With("component", "tls"))
	if err != nil {
		return nil, nil, err
	}
	a.certs = r
	tc := r.serverConfig()
	var unary []grpc.UnaryServerInterceptor
	if a.cfg.TLSClientCA != "" {
		pem, err := os.ReadFile(a.cfg.TLSClientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("app: tls client ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("app: tls client ca: no PEM certificate in %s", a.cfg.TLSClientCA)
		}
		// Asked for, not required: user methods and browsers' clients come
		// without one; the interceptor requires it of service methods.
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		tc.ClientCAs = pool
		opts = append(opts, grpc.ChainStreamInterceptor(rpc.ClientCertStream()))
		unary = append(unary, rpc.ClientCertUnary())
	}
	return append(opts, grpc.Creds(credentials.NewTLS(tc))), unary, nil
}
