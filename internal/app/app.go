// Package app wires Herald's components together and runs them: the store,
// the hub, the gRPC and HTTP servers, and their ordered shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/limit/redislimit"
	"github.com/heraldhq/herald/internal/promreg"
	"github.com/heraldhq/herald/internal/rest"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/rpc"
	"github.com/heraldhq/herald/internal/sse"
	"github.com/heraldhq/herald/internal/store"
)

// App is one Herald node. New opens its listeners and store; Run serves until
// the context ends and then shuts down in order.
type App struct {
	cfg   config.Config
	log   *slog.Logger
	reg   *prometheus.Registry
	ready atomic.Bool

	store   store.Store
	hub     *hub.Hub
	bus     *bus.Bus              // nil on one node
	rdb     redis.UniversalClient // nil without Redis
	streams *sse.Handler
	grpcStr *rpc.StreamServer // InboxService.Stream
	health  *health.Server

	// storeName is the store's kind and where it is, for /readyz:
	// "embedded ./data" or "redis host:port".
	storeName string
	// redisDown says Redis did not answer at start, so Run waits for it
	// in the background to log when the node becomes ready.
	redisDown bool
	// storeHealth is the store's readiness, checked in the background.
	storeHealth *storeHealth
	redisAddr   string

	grpcLis net.Listener
	httpLis net.Listener
	grpcSrv *grpc.Server
	keys    *keyLoader
	users   auth.Verifier // closed at shutdown if it is an io.Closer
	certs   *certReloader // nil without TLS
	streamN *limit.Streams
	leases  *redislimit.Leases // nil without Redis

	// What REST calls in process: the gRPC server's implementations and
	// its unary interceptor chain.
	services rest.Services
	unary    grpc.UnaryServerInterceptor

	consumer     *kafka.Consumer // nil without Kafka
	closeBroker  func()          // the embedded broker's, if any
	kafkaBrokers []string
	stopKafka    context.CancelFunc
	kafkaDone    chan struct{}
}

// grpcWorkers is how many long-lived goroutines serve gRPC calls; calls
// beyond them run on a goroutine of their own, as without workers.
const grpcWorkers = 64

// New builds a node from a validated configuration. On error, everything
// opened so far is closed again.
func New(cfg config.Config, log *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	// The scheduler's latency histogram as well: a node whose streams lag
	// while its own figures look idle is usually waiting for CPU on a busy
	// host, and this shows it (BENCHMARKS.md).
	promreg.Register(a.reg, log, collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)},
	)))
	promreg.Register(a.reg, log, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promreg.Register(a.reg, log, a.readyGauge())

	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: NotifyService and SubscriptionService accept requests without an API key and /v1/dev/token mints user tokens for anyone; never run like this in production")
	}

	a.keys, err = newKeyLoader(cfg, log)
	if err != nil {
		return nil, err
	}
	// HS256 with the secret, RS256/ES256/EdDSA against the JWKS, or both;
	// the JWKS is fetched again in the background until shutdown.
	users, err := auth.NewUserVerifier(auth.UserConfig{
		JWTOptions: auth.JWTOptions{
			Audience: cfg.JWTAudience,
			Issuer:   cfg.JWTIssuer,
			Leeway:   cfg.JWTLeeway,
		},
		Secret:         []byte(cfg.JWTSecret),
		JWKSURL:        cfg.JWKSURL,
		JWKSRefresh:    cfg.JWKSRefresh,
		JWKSMinRefresh: cfg.JWKSMinRefresh,
		Logger:         log.With("component", "auth"),
	})
	if err != nil {
		return nil, fmt.Errorf("app: jwt: %w", err)
	}
	a.users = users
	closers = append(closers, users.Close)

	readEvents, storeClosers, err := a.openStore(cfg, log)
	closers = append(closers, storeClosers...)
	if err != nil {
		return nil, err
	}

	a.grpcLis, err = listen("--grpc-addr", cfg.GRPCAddr)
	if err != nil {
		return nil, err
	}
	closers = append(closers, a.grpcLis.Close)
	a.httpLis, err = listen("--http-addr", cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	closers = append(closers, a.httpLis.Close)

	svc := ingest.New(router.New(a.store), a.store, ingest.Options{
		Limits: ingest.Limits{
			MaxTitleBytes: cfg.MaxTitleBytes,
			MaxBodyBytes:  cfg.MaxBodyBytes,
			MaxDataBytes:  cfg.MaxDataBytes,
			MaxRecipients: cfg.MaxRecipients,
			MaxBatch:      cfg.MaxBatch,
		},
		Logger:     log.With("component", "ingest"),
		Registerer: a.reg,
	})

	a.kafkaBrokers = cfg.KafkaBrokers
	if cfg.KafkaEmbedded {
		cluster, addr, err := startEmbeddedKafka(cfg.KafkaEmbeddedAddr, cfg.KafkaTopic)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() error { cluster.Close(); return nil })
		a.closeBroker = cluster.Close
		a.kafkaBrokers = []string{addr}
		log.Warn("embedded Kafka broker started: for development only", "kafka_addr", addr, "topic", cfg.KafkaTopic)
	}
	if len(a.kafkaBrokers) > 0 {
		a.consumer, err = kafka.NewConsumer(kafka.Config{
			Brokers:         a.kafkaBrokers,
			Topic:           cfg.KafkaTopic,
			Group:           cfg.KafkaGroup,
			MaxMessageBytes: cfg.KafkaMaxMessageBytes,
			Strict:          cfg.KafkaStrict,
			// A batch is stored like a NotifyBatch, within its limit.
			BatchSize:      min(cfg.KafkaBatchSize, cfg.MaxBatch),
			SessionTimeout: cfg.KafkaSessionTimeout,
			Security: kafka.Security{
				TLS:                cfg.KafkaTLS,
				CAFile:             cfg.KafkaTLSCA,
				CertFile:           cfg.KafkaTLSCert,
				KeyFile:            cfg.KafkaTLSKey,
				ServerName:         cfg.KafkaTLSServerName,
				InsecureSkipVerify: cfg.KafkaTLSInsecureSkipVerify,
				SASLMechanism:      cfg.KafkaSASLMechanism,
				Username:           cfg.KafkaSASLUsername,
				Password:           cfg.KafkaSASLPassword,
			},
			Registerer: a.reg,
		}, svc, log.With("component", "kafka"))
		if err != nil {
			return nil, fmt.Errorf("app: kafka: %w", err)
		}
	}

	// Each service's methods need their own credential: an API key for
	// Notify and Subscription, a user token for Inbox.
	policy := auth.Policy{Keys: a.keys.ring, Users: a.users, Dev: cfg.Dev, Log: log}
	grpcOpts, certCheck, err := a.grpcServerOptions() // TLS and mTLS first
	if err != nil {
		return nil, err
	}
	rpcLog := log.With("component", "rpc")
	// One unary chain for gRPC and REST (which runs it in process): metrics
	// outermost, so refused calls are counted too, then the client
	// certificate check of mutual TLS, then credentials.
	authn := rpc.NewAuth(policy)
	unary := append(append([]grpc.UnaryServerInterceptor{rpc.NewMetrics(a.reg, rpcLog).Unary()}, certCheck...), authn.Unary())
	a.unary = rpc.ChainUnary(unary...)
	a.grpcSrv = grpc.NewServer(append(grpcOpts,
		// Long-lived workers serve the calls: their stacks are grown
		// already, where a goroutine per call grows a fresh one through
		// the interceptors, ingest and the store each time (3 % of the CPU
		// at 5,000 calls/s). A call holds its worker while it waits for
		// the store's fsync, so there must be enough for the calls in
		// flight: with one per core, most calls found none free.
		grpc.NumStreamWorkers(grpcWorkers),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(authn.Stream()),
		rpc.StreamDeadlines(), // lets a stream bound a Send its client does not read
	)...)
	buckets, streamOpts := a.clusterLimits(cfg, log)
	a.streamN = limit.NewStreams(cfg.MaxStreamsPerUser, a.reg, log, streamOpts...) // SSE and gRPC share it
	streams, who := a.presence()
	limiter := rpc.NewRateLimiter(auth.Limit{Rate: cfg.NotifyRate, Burst: cfg.NotifyBurst}, buckets, a.reg, rpcLog)
	a.services.Notify = rpc.NewNotifyServer(svc, rpcLog, rpc.WithRateLimiter(limiter))
	a.services.Subscription = rpc.NewSubscriptionServer(a.store, rpcLog)
	heraldv1.RegisterNotifyServiceServer(a.grpcSrv, a.services.Notify)
	heraldv1.RegisterSubscriptionServiceServer(a.grpcSrv, a.services.Subscription)
	a.services.Presence = rpc.NewPresenceServer(who, nil, rpcLog)
	heraldv1.RegisterPresenceServiceServer(a.grpcSrv, a.services.Presence)
	channelPolicy := auth.ChannelPolicy{Public: cfg.PublicChannels, Anonymous: cfg.AnonymousChannels}
	a.grpcStr = rpc.NewStreamServer(rpc.StreamConfig{
		Store:         a.store,
		Hub:           a.hub,
		Channels:      a.store,
		ChannelPolicy: channelPolicy,
		MaxChannels:   cfg.MaxChannelsPerStream,
		WaitLive:      a.waitLive(),
		QueueSize:     cfg.StreamQueue,
		Streams:       streams,
		Registerer:    a.reg,
		Logger:        rpcLog,
	})
	a.services.Inbox = inboxService{
		InboxServer: rpc.NewInboxServer(rpc.InboxConfig{
			Store:         a.store,
			Publisher:     readEvents,
			SelfSubscribe: cfg.SelfSubscribeTopics,
			Logger:        rpcLog,
		}),
		streams: a.grpcStr,
	}
	heraldv1.RegisterInboxServiceServer(a.grpcSrv, a.services.Inbox)
	a.services.Channel = rpc.NewChannelServer(rpc.ChannelConfig{Store: a.store, Policy: channelPolicy, Logger: rpcLog})
	heraldv1.RegisterChannelServiceServer(a.grpcSrv, a.services.Channel)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpcSrv, a.health)
	reflection.Register(a.grpcSrv)

	a.streams = sse.NewHandler(sse.Config{
		Store:          a.store,
		Hub:            a.hub,
		Channels:       a.store,
		ChannelPolicy:  channelPolicy,
		MaxChannels:    cfg.MaxChannelsPerStream,
		WaitLive:       a.waitLive(),
		Verifier:       a.users,
		Tickets:        a.tickets(cfg),
		Streams:        streams,
		Logger:         log.With("component", "sse"),
		Heartbeat:      cfg.Heartbeat,
		Retry:          cfg.Retry,
		QueueSize:      cfg.StreamQueue,
		AllowedOrigins: cfg.CORSOrigins,
		Registerer:     a.reg,
	})
	return a, nil
}

// HTTPAddr is the address the HTTP server listens on.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// GRPCAddr is the address the gRPC server listens on.
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// Run serves until ctx ends, then shuts down: Kafka first, then streams
// (each gets a final event with a jittered retry), then in-flight REST and
// gRPC calls together, and the store last so that every acknowledged append
// is durable before the process exits.
func (a *App) Run(ctx context.Context) error {
	mux, err := a.httpMux()
	if err != nil {
		return err
	}
	httpSrv := a.httpServer(mux)
	// Before the HTTP server serves /readyz, which reads it.
	if c, ok := any(a.store).(interface{ Ready(context.Context) error }); ok {
		a.storeHealth = &storeHealth{check: c.Ready, log: a.log.With("component", "store")}
	}

	g, gctx := errgroup.WithContext(ctx)
	pprofAddr := ""
	if a.cfg.PprofAddr != "" {
		srv, lis, err := pprofServer(a.cfg.PprofAddr)
		if err != nil {
			return err
		}
		pprofAddr = lis.Addr().String()
		g.Go(func() error { return servePprof(srv, lis) })
		g.Go(func() error {
			<-gctx.Done()
			return srv.Close() // profiles have nothing to drain
		})
	}
	g.Go(func() error {
		if err := a.grpcSrv.Serve(a.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("app: grpc serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := a.serveHTTP(httpSrv); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("app: http serve: %w", err)
		}
		return nil
	})
	if a.certs != nil {
		g.Go(func() error { return a.certs.run(gctx) }) // SIGHUP reloads the certificate
	}
	if a.consumer != nil {
		// Its own context: shutdown stops Kafka first and waits for its
		// commits before anything else goes.
		var kctx context.Context
		kctx, a.stopKafka = context.WithCancel(context.Background())
		a.kafkaDone = make(chan struct{})
		g.Go(func() error { return runKafka(kctx, a.consumer, a.kafkaDone) })
	}
	g.Go(a.keys.watch(gctx)) // API key reloads on SIGHUP and file change
	if a.leases != nil {
		g.Go(func() error { return a.leases.Run(gctx) }) // this node's stream leases
	}
	if a.redisDown {
		g.Go(func() error {
			awaitRedis(gctx, a.rdb, a.redisAddr, redisRetryEvery, a.log.With("component", "store"))
			return nil
		})
	}
	if a.storeHealth != nil {
		g.Go(func() error { a.storeHealth.run(gctx); return nil })
	}
	a.ready.Store(true)
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	a.log.Info("herald started", "http_addr", a.HTTPAddr(), "grpc_addr", a.GRPCAddr(), "store", a.cfg.Store, "data_dir", a.cfg.DataDir, "dev", a.cfg.Dev, "kafka_brokers", strings.Join(a.kafkaBrokers, ","), "pprof_addr", pprofAddr)

	g.Go(func() error {
		<-gctx.Done()
		return a.shutdown(httpSrv)
	})
	return g.Wait()
}

func (a *App) shutdown(httpSrv *http.Server) error {
	a.log.Info("herald shutting down")
	a.ready.Store(false)
	a.health.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()

	var errs []error
	if a.consumer != nil {
		a.stopKafka()
		select {
		case <-a.kafkaDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stop kafka: %w", ctx.Err()))
		}
	}
	if err := a.streams.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close streams: %w", err))
	}
	// Both servers stop taking calls at once and let those in flight
	// finish; REST calls run in the HTTP server's handlers, so nothing they
	// use closes before they answer. gRPC streams never end by themselves:
	// ending them lets GracefulStop wait only for unary calls.
	a.grpcStr.Shutdown()
	grpcStopped := make(chan struct{})
	go func() { a.grpcSrv.GracefulStop(); close(grpcStopped) }()
	if err := httpSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		_ = httpSrv.Close()
	}
	select {
	case <-grpcStopped:
	case <-ctx.Done():
		a.grpcSrv.Stop()
		<-grpcStopped
	}
	if c, ok := a.users.(interface{ Close() error }); ok {
		_ = c.Close() // stops the JWKS refresh; nothing verifies tokens now
	}
	// The bus goes after every writer (Kafka, gRPC) and stream, and
	// publishes what they left queued; then the store, then its client.
	if a.bus != nil {
		if err := a.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bus: %w", err))
		}
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	if a.rdb != nil {
		if err := a.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis client: %w", err))
		}
	}
	if a.closeBroker != nil {
		a.closeBroker()
	}
	a.log.Info("herald stopped")
	return errors.Join(errs...)
}
