package app

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/cors"
	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/web"
)

// devTokenTTL is the lifetime of tokens minted by /v1/dev/token.
const devTokenTTL = time.Hour

func (a *App) httpMux() (*http.ServeMux, error) {
	gw, err := rest.New(a.services, rest.Options{
		Interceptor:  a.unary,
		MaxBodyBytes: int64(a.cfg.MaxRequestBytes),
		CORS:         cors.New(a.cfg.CORSOrigins),
	})
	if err != nil {
		return nil, fmt.Errorf("app: rest gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/stream", a.streams)
	mux.Handle("/v1/stream-tickets", readDeadline(restReadTimeout, a.streams.TicketHandler()))
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
	if a.certs != nil && a.cfg.HSTSMaxAge > 0 {
		h = hsts(a.cfg.HSTSMaxAge, h)
	}
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes(a.cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	if a.certs != nil {
		srv.TLSConfig = a.certs.serverConfig()
	}
	return srv
}

// headerSlop is what net/http lets an HTTP/1.1 header block run past
// http.Server.MaxHeaderBytes: it reads through a buffer of this size.
const headerSlop = 4096

// serverMaxHeaderBytes is the http.Server.MaxHeaderBytes that makes n, the
// configured --max-header-bytes, the real bound of a header block (from the
// request line to the blank line). The configuration keeps n above the slop;
// a smaller n is still bounded, at headerSlop+1.
func serverMaxHeaderBytes(n int) int {
	return max(n-headerSlop, 1)
}

// hsts sends Strict-Transport-Security on every answer, so that browsers
// that once reached Herald over HTTPS never try plaintext for maxAge. It is
// mounted only on the HTTPS listener, where the header counts (RFC 6797,
// section 7.2). It names no includeSubDomains: the other hosts of the
// domain are not Herald's to vouch for.
func hsts(maxAge time.Duration, next http.Handler) http.Handler {
	v := fmt.Sprintf("max-age=%d", int64(maxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", v)
		next.ServeHTTP(w, r)
	})
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

// readyTimeout bounds the readiness check that /readyz runs itself, before
// the background one has a result, below the two seconds deploy/k8s gives
// the probe.
const readyTimeout = 1500 * time.Millisecond

// readyz reports whether this node takes traffic: not while starting or
// draining, nor while its store fails.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if a.storeHealth != nil {
		// The background check's last result (readiness.go); bounded when
		// there is none yet, so that a hung store fails the probe rather
		// than hang it past the prober's own timeout.
		if err := a.storeHealth.err(r.Context(), readyTimeout); err != nil {
			a.log.DebugContext(r.Context(), "readyz: store not ready", "error", err)
			// "store" says which store and why, so that whoever looks at a
			// failing probe sees what to fix; status stays as it was.
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable", "store": a.storeName + ": " + storeCause(err)})
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
	// channels=a,b puts a channels claim in the token, so that the demo
	// page can listen to a room without server settings.
	var channels []string
	if c := r.URL.Query().Get("channels"); c != "" {
		channels = strings.Split(c, ",")
	}
	tok, err := auth.Token{
		User: user, TTL: devTokenTTL, Audience: a.cfg.JWTAudience, Issuer: a.cfg.JWTIssuer, Channels: channels,
	}.SignHS256([]byte(a.cfg.JWTSecret), time.Now())
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
