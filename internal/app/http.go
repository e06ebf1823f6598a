package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/web"
)

// devTokenTTL is the lifetime of tokens minted by /v1/dev/token.
const devTokenTTL = time.Hour

func (a *App) httpMux(ctx context.Context) (*http.ServeMux, error) {
	creds := insecure.NewCredentials()
	if a.certs != nil {
		creds = a.certs.loopbackCreds()
	}
	gw, err := rest.NewWithOptions(ctx, dialTarget(a.GRPCAddr()), rest.Options{
		DialOptions:  []grpc.DialOption{grpc.WithTransportCredentials(creds)},
		MaxBodyBytes: int64(a.cfg.MaxRequestBytes),
	})
	if err != nil {
		return nil, fmt.Errorf("app: rest gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/stream", a.streams)
	mux.Handle("/v1/", readDeadline(restReadTimeout, gw))
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	if a.cfg.Dev {
		mux.HandleFunc("GET /v1/dev/token", a.devToken)
	}
	mux.Handle("/", web.Handler())
	return mux, nil
}

// restReadTimeout bounds the time to send a REST request's body: the server
// has no global ReadTimeout, which would cut SSE streams.
const restReadTimeout = 30 * time.Second

// readDeadline bounds the reading of each request's body to d, so that a
// client trickling its body cannot hold a handler for long.
func readDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)) // unsupported: no bound
		next.ServeHTTP(w, r)
	})
}

// httpServer returns the HTTP server for h: HTTP/1.1 with h2c in plaintext
// (for a proxy in front), HTTP/1.1 and HTTP/2 (ALPN) over TLS, and the
// timeouts and header limit of the configuration. It sets no ReadTimeout or
// WriteTimeout: they would end SSE streams, which bound their own writes.
func (a *App) httpServer(h http.Handler) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if a.certs != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    a.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	if a.certs != nil {
		srv.TLSConfig = a.certs.serverConfig()
	}
	return srv
}

// serveHTTP serves srv on the HTTP listener, bounding the connections per
// client address when configured. Over TLS a refused connection is closed
// without a word: a plaintext 429 would be noise to a TLS client.
func (a *App) serveHTTP(srv *http.Server) error {
	opts := limit.ConnOptions{Registerer: a.reg, Logger: a.log}
	if a.certs == nil {
		opts.Reply = limit.HTTPTooManyConns
	}
	lis := limit.ConnsPerIP(a.httpLis, a.cfg.MaxConnsPerIP, opts)
	if a.certs != nil {
		return srv.ServeTLS(lis, "", "")
	}
	return srv.Serve(lis)
}

// readyTimeout bounds the store's readiness check.
const readyTimeout = 2 * time.Second

// readyz reports whether this node takes traffic: not while starting or
// draining, nor while its store fails.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if c, ok := any(a.store).(interface{ Ready(context.Context) error }); ok {
		// Bounded: a hung store must fail the probe, not hang it past the
		// prober's own timeout.
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := c.Ready(ctx); err != nil {
			a.log.WarnContext(r.Context(), "readyz: store not ready", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// devToken mints a user token for the demo page. It is mounted only in
// development mode: it hands anyone a token for any user.
func (a *App) devToken(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" || len(user) > notify.MaxUserIDLen {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid_argument", "message": "query parameter user is required"}})
		return
	}
	tok, err := auth.MintHS256([]byte(a.cfg.JWTSecret), user, devTokenTTL, a.cfg.JWTAudience, a.cfg.JWTIssuer, time.Now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid_argument", "message": err.Error()}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_in": int(devTokenTTL.Seconds())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// dialTarget turns a listen address such as "[::]:9090" into one the gateway
// can dial on this host.
func dialTarget(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
