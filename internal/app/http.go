package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/web"
)

// devTokenTTL is the lifetime of tokens minted by /v1/dev/token.
const devTokenTTL = time.Hour

func (a *App) httpMux(ctx context.Context) (*http.ServeMux, error) {
	gw, err := rest.New(ctx, dialTarget(a.GRPCAddr()), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("app: rest gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/stream", a.streams)
	mux.Handle("/v1/", gw)
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

// readyz reports whether this node takes traffic: not while starting or
// draining, nor while its store fails.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if c, ok := any(a.store).(interface{ Ready(context.Context) error }); ok {
		if err := c.Ready(r.Context()); err != nil {
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
