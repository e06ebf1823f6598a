// Package config holds Herald's one typed configuration: every setting is a
// command-line flag and, under the name HERALD_<FLAG>, an environment
// variable. Flags override the environment. The result is validated once, at
// start, so the rest of the server never re-checks it.
package config

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/redisconn"
)

// DevJWTSecret is the HS256 secret used with --dev when no --jwt-secret is
// given. It is public (it is in this source file and the README), so a server
// using it accepts tokens anyone can mint: it exists only so that `make run`
// and `heraldctl token` work with no setup.
const DevJWTSecret = "herald-dev-secret-change-me-0123456789"

// Inbox backends.
const (
	StoreEmbedded = "embedded"
	StoreRedis    = "redis"
)

// DefaultRedisURL is --redis-url's default. A URL other than it was set on
// purpose, so it is checked even when --store is not redis.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// MinHeaderBytes is the least --max-header-bytes: net/http reads a request
// header through a 4096-byte buffer and lets the block run that far past its
// own limit, so the server sets its limit 4096 bytes lower to make
// --max-header-bytes the real bound, and a smaller one cannot be enforced.
const MinHeaderBytes = 4096 + 1

// EnvPrefix is prepended to a flag's upper-cased name (dashes become
// underscores) to form its environment variable: --http-addr is
// HERALD_HTTP_ADDR.
const EnvPrefix = "HERALD_"

// Config is the validated configuration of a Herald server.
type Config struct {
	// HTTPAddr serves REST (grpc-gateway), GET /v1/stream, health, metrics
	// and the demo page.
	HTTPAddr string
	// GRPCAddr serves the gRPC API.
	GRPCAddr string
	// PprofAddr, when set, serves net/http/pprof there, apart from the
	// public HTTP port; empty disables profiling.
	PprofAddr string
	// DataDir holds the embedded store.
	DataDir string
	// Store is the inbox backend: StoreEmbedded (one node, on DataDir) or
	// StoreRedis (a cluster of nodes sharing RedisURL, with the bus).
	Store string
	// RedisURL locates Redis (redis://[user:password@]host:port/db, or
	// rediss:// for TLS); it may hold a password, which LogValue hides.
	RedisURL string
	// RedisMode is the Redis topology: single, cluster or sentinel
	// (redisconn's modes).
	RedisMode string
	// RedisAddrs are the seeds of a cluster or the sentinels (host:port).
	RedisAddrs []string
	// RedisSentinelMaster is the master's name under Sentinel.
	RedisSentinelMaster string
	// RedisSentinelPassword authenticates to the sentinels.
	RedisSentinelPassword string
	// RedisWaitReplicas is how many replicas must confirm each write
	// within RedisWaitTimeout (0: none).
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration
	// RedisLayout is the layout of the inboxes this node creates, "v1" or
	// "v2" (redisstore.Layout); a node reads and writes both.
	RedisLayout string
	// StoreTimeout bounds each store call (0: unbounded).
	StoreTimeout time.Duration
	// RedisPrefix starts every key and channel name, so that deployments
	// can share a Redis.
	RedisPrefix string
	// Dev enables development mode: the public DevJWTSecret when no secret
	// is set, Notify without an API key, and GET /v1/dev/token.
	Dev bool

	// JWTSecret is the HS256 secret that user tokens are checked with.
	JWTSecret string
	// JWTAudience, when set, must appear in a token's aud claim.
	JWTAudience string
	// JWTIssuer, when set, must equal a token's iss claim.
	JWTIssuer string
	// JWTLeeway is the clock skew tolerated on exp and nbf.
	JWTLeeway time.Duration

	// JWKSURL, when set, is a JSON Web Key Set whose RS256, ES256 and EdDSA
	// keys verify user tokens, each key pinned to its own algorithm. It may
	// be combined with JWTSecret (HS256 tokens) or replace it.
	JWKSURL string
	// JWKSRefresh is how often the key set is fetched again in the
	// background; JWKSMinRefresh is the least time between two fetches
	// triggered by tokens with an unknown kid, so that forged kids cannot
	// make the server hammer the key server.
	JWKSRefresh    time.Duration
	JWKSMinRefresh time.Duration

	// APIKeys are the service credentials accepted by NotifyService, as
	// hash specs "NAME=sha256:HEX" or "sha256:HEX" (auth.ParseAPIKeys), so
	// that the configuration never holds a key itself. Such keys may call
	// every service method for every topic.
	APIKeys []string
	// APIKeysFile holds more keys with names and scopes (which methods,
	// which topics, which rate); it is read again on SIGHUP and when it
	// changes, so keys rotate without a restart.
	APIKeysFile string
	// NotifyRate is the notifications per second each API key may send
	// (0: unlimited) with bursts of NotifyBurst; a key's own rate in
	// APIKeysFile wins. Per node, or shared by all nodes with StoreRedis.
	NotifyRate  float64
	NotifyBurst int

	// TLSCert and TLSKey (PEM files) serve HTTP (HTTP/2 and HTTP/1.1) and
	// gRPC over TLS; without them both listen in plaintext, HTTP with h2c
	// for a proxy in front. They are read again on SIGHUP.
	TLSCert string
	TLSKey  string
	// TLSClientCA (PEM), with TLS, makes NotifyService and
	// SubscriptionService require a client certificate signed by one of its
	// CAs (mutual TLS) in addition to an API key; user methods do not ask
	// for one.
	TLSClientCA string

	// MaxStreamsPerUser bounds a user's open streams (SSE and gRPC) on one
	// node, or on all nodes together with StoreRedis; one more is refused
	// with 429 / RESOURCE_EXHAUSTED.
	MaxStreamsPerUser int
	// MaxConnsPerIP bounds the open HTTP connections from one client
	// address (0: unlimited); behind a proxy, every connection comes from
	// the proxy.
	MaxConnsPerIP int
	// MaxHeaderBytes bounds an HTTP/1.1 request's header block, from the
	// request line to the blank line, at least MinHeaderBytes;
	// MaxRequestBytes bounds its body (REST).
	MaxHeaderBytes  int
	MaxRequestBytes int
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header
	// sent on HTTPS answers (0: none).
	HSTSMaxAge time.Duration
	// ReadHeaderTimeout bounds the time to send a request's header, and
	// IdleTimeout how long a keep-alive connection waits for the next
	// request: both close slow or silent clients.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// CORSOrigins are the browser origins allowed to call the routes a
	// user's token opens (the stream, stream tickets, the inbox, /v1/me,
	// channel history) from another origin; "*" allows any, without
	// credentials.
	CORSOrigins []string
	// StreamTicketTTL is how long a ticket of POST /v1/stream-tickets may
	// open a stream.
	StreamTicketTTL time.Duration
	// SelfSubscribeTopics are path.Match patterns ("news/*", "team:*") of
	// the topics users may subscribe themselves to with
	// InboxService.SubscribeMe; empty means none.
	SelfSubscribeTopics []string
	// PublicChannels and AnonymousChannels are path.Match patterns of the
	// channels any user token, and no token at all, may listen to.
	PublicChannels    []string
	AnonymousChannels []string
	// MaxChannelsPerStream bounds the channels of one stream.
	MaxChannelsPerStream int
	// ChannelHistory and ChannelHistoryAge cap each channel's history.
	ChannelHistory    int
	ChannelHistoryAge time.Duration

	// LogLevel ("debug", "info", "warn" or "error", which
	// slog.Level.UnmarshalText reads) and LogFormat ("text" or "json")
	// configure the slog handler.
	LogLevel  string
	LogFormat string

	// Heartbeat is the interval of SSE keep-alive comments, and on gRPC
	// how long a silent connection waits for a keepalive ping and that
	// ping for its answer.
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to SSE clients (retry: field).
	Retry time.Duration
	// StreamQueue bounds each connection's queue of pending events; a
	// connection whose queue fills is dropped and resumes from its cursor.
	StreamQueue int

	// RetentionCount is how many inbox entries are kept per user.
	RetentionCount int
	// StoreMemTableMB is the embedded store's memtable size in MiB: the
	// size of each preallocated WAL file, and so its disk footprint, against
	// how often large fan-outs flush.
	StoreMemTableMB int
	// RetentionAge is how long inbox entries are kept.
	RetentionAge time.Duration
	// IdempotencyWindow is how long an idempotency key is remembered.
	IdempotencyWindow time.Duration

	// Limits applied by ingest to every entrance.
	MaxTitleBytes int
	MaxBodyBytes  int
	MaxDataBytes  int
	MaxRecipients int
	MaxBatch      int

	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration

	// KafkaBrokers enables the Kafka entrance; empty means none.
	KafkaBrokers []string
	KafkaTopic   string
	KafkaGroup   string
	// KafkaEmbedded starts an in-process Kafka-protocol broker (kfake) on
	// KafkaEmbeddedAddr and consumes from it: Kafka ingestion on a machine
	// with no broker, for development only.
	KafkaEmbedded     bool
	KafkaEmbeddedAddr string
	// KafkaSessionTimeout is how long the group waits for a silent member
	// before giving its partitions to another.
	KafkaSessionTimeout time.Duration
	// KafkaBatchSize bounds the messages of one partition stored together.
	KafkaBatchSize int
	// KafkaMaxMessageBytes bounds a message; larger ones are dead-lettered.
	KafkaMaxMessageBytes int
	// KafkaStrict dead-letters messages with unknown JSON fields.
	KafkaStrict bool

	// KafkaTLS encrypts the connections to the brokers, checking their
	// certificates against KafkaTLSCA (PEM; empty: the system roots) under
	// KafkaTLSServerName (empty: each broker's host). KafkaTLSCert and
	// KafkaTLSKey are a client certificate for mutual TLS.
	// KafkaTLSInsecureSkipVerify accepts any certificate, for testing only.
	KafkaTLS                   bool
	KafkaTLSCA                 string
	KafkaTLSCert               string
	KafkaTLSKey                string
	KafkaTLSServerName         string
	KafkaTLSInsecureSkipVerify bool
	// KafkaSASLMechanism ("", "plain", "scram-sha-256" or "scram-sha-512")
	// authenticates to the brokers as KafkaSASLUsername. The password is a
	// secret: LogValue shows only whether it is set.
	KafkaSASLMechanism string
	KafkaSASLUsername  string
	KafkaSASLPassword  string
}

// UsesDevSecret reports whether tokens are checked with the public
// DevJWTSecret, which the server must warn about loudly.
func (c Config) UsesDevSecret() bool { return c.JWTSecret == DevJWTSecret }

// LogValue keeps the JWT secret and the Kafka password out of logs while
// showing everything else.
func (c Config) LogValue() slog.Value {
	secret := "set"
	if c.UsesDevSecret() {
		secret = "development"
	}
	kafkaPassword := ""
	if c.KafkaSASLPassword != "" {
		kafkaPassword = "set"
	}
	return slog.GroupValue(
		slog.String("http_addr", c.HTTPAddr),
		slog.String("grpc_addr", c.GRPCAddr),
		slog.String("data_dir", c.DataDir),
		slog.String("store", c.Store),
		slog.String("redis_url", redactURL(c.RedisURL)),
		slog.String("redis_mode", c.RedisMode),
		slog.Any("redis_addrs", c.RedisAddrs),
		slog.String("redis_sentinel_master", c.RedisSentinelMaster),
		slog.Bool("redis_sentinel_password", c.RedisSentinelPassword != ""),
		slog.String("redis_prefix", c.RedisPrefix),
		slog.Duration("store_timeout", c.StoreTimeout),
		slog.Int("redis_wait_replicas", c.RedisWaitReplicas),
		slog.Duration("redis_wait_timeout", c.RedisWaitTimeout),
		slog.String("redis_layout", c.RedisLayout),
		slog.Bool("dev", c.Dev),
		slog.String("jwt_secret", secret),
		slog.String("jwt_audience", c.JWTAudience),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.String("jwt_jwks_url", redactURL(c.JWKSURL)),
		slog.Int("api_keys", len(c.APIKeys)),
		slog.String("api_keys_file", c.APIKeysFile),
		slog.Float64("notify_rate", c.NotifyRate),
		slog.Bool("tls", c.TLSCert != ""),
		slog.Bool("tls_client_ca", c.TLSClientCA != ""),
		slog.Int("max_streams_per_user", c.MaxStreamsPerUser),
		slog.Int("max_conns_per_ip", c.MaxConnsPerIP),
		slog.Any("cors_origins", c.CORSOrigins),
		slog.Duration("stream_ticket_ttl", c.StreamTicketTTL),
		slog.Any("self_subscribe_topics", c.SelfSubscribeTopics),
		slog.Any("public_channels", c.PublicChannels),
		slog.Any("anonymous_channels", c.AnonymousChannels),
		slog.Int("max_channels_per_stream", c.MaxChannelsPerStream),
		slog.Int("channel_history", c.ChannelHistory),
		slog.Duration("channel_history_age", c.ChannelHistoryAge),
		slog.Duration("heartbeat", c.Heartbeat),
		slog.Int("stream_queue", c.StreamQueue),
		slog.Int("retention_count", c.RetentionCount),
		slog.Duration("retention_age", c.RetentionAge),
		slog.Any("kafka_brokers", c.KafkaBrokers),
		slog.Bool("kafka_tls", c.KafkaTLS),
		slog.String("kafka_sasl_mechanism", c.KafkaSASLMechanism),
		slog.String("kafka_sasl_username", c.KafkaSASLUsername),
		slog.String("kafka_sasl_password", kafkaPassword),
	)
}

// redactURL hides a URL's password; an unparsable URL is hidden whole, as it
// might be a password typed in the wrong place.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// Redis is where --store=redis finds Redis.
func (c Config) Redis() redisconn.Config {
	return redisconn.Config{
		Mode:             c.RedisMode,
		URL:              c.RedisURL,
		Addrs:            c.RedisAddrs,
		SentinelMaster:   c.RedisSentinelMaster,
		SentinelPassword: c.RedisSentinelPassword,
		WaitTimeout:      c.RedisWaitTimeout,
	}
}
