package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/redisconn"
)

// ErrUsage marks a command line the flags cannot parse: an unknown flag, a
// flag without its value, a stray argument. Its message is one line that
// points at --help, not the whole usage.
var ErrUsage = errors.New("run 'herald --help' for the flags")

// Load parses args (without the program name) and the environment, read
// through getenv, into a validated Config. --help prints the usage to
// standard output and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string) (Config, error) {
	return LoadTo(os.Stdout, args, getenv)
}

// LoadTo is Load with the usage written to out.
func LoadTo(out io.Writer, args []string, getenv func(string) string) (Config, error) {
	var (
		c        Config
		keys     listValue
		cors     listValue
		brokers  listValue
		selfSub  listValue
		pubChan  listValue
		anonChan listValue
		rAddrs   listValue
	)
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	// The flag package would print the whole usage around a parse error;
	// the error alone is returned instead, and the usage only for --help.
	fs.SetOutput(io.Discard)

	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address (REST, SSE, health, metrics, demo page)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9090", "gRPC listen address")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (empty: off; keep it private)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the embedded store")
	fs.StringVar(&c.Store, "store", StoreEmbedded, "inbox store: embedded (one node, in --data-dir) or redis (a cluster of nodes sharing --redis-url)")
	fs.StringVar(&c.RedisURL, "redis-url", DefaultRedisURL, "Redis of --store=redis: redis://[user:password@]host:port/db or rediss:// for TLS")
	fs.StringVar(&c.RedisMode, "redis-mode", redisconn.Single, "Redis topology of --store=redis: single (--redis-url's server), cluster (a Redis Cluster) or sentinel (the master that Sentinel names)")
	fs.Var(&rAddrs, "redis-addrs", "comma-separated host:port seeds of the Redis Cluster, or the sentinels (default: --redis-url's host); --redis-url still gives user, password, database and TLS")
	fs.StringVar(&c.RedisSentinelMaster, "redis-sentinel-master", "", "name of the master the sentinels monitor (--redis-mode=sentinel)")
	fs.StringVar(&c.RedisSentinelPassword, "redis-sentinel-password", "", "password of the sentinels themselves (empty: none); --redis-url's authenticates to the master and replicas")
	fs.IntVar(&c.RedisWaitReplicas, "redis-wait-replicas", 0, "acknowledge a write only once this many Redis replicas confirmed it (WAIT); fewer within --redis-wait-timeout fail the call with UNAVAILABLE (0: the master's answer suffices)")
	durationVar(fs, &c.RedisWaitTimeout, "redis-wait-timeout", time.Second, "how long a write waits for --redis-wait-replicas")
	fs.StringVar(&c.RedisLayout, "redis-layout", "v2", "layout of the inboxes this node creates in Redis: v2, or v1 while nodes of an earlier version run (a rolling upgrade: README); a node reads and writes both, and in v2 converts a v1 inbox when it appends to it")
	durationVar(fs, &c.StoreTimeout, "store-timeout", 5*time.Second, "bound of each store call: a Redis or disk that hangs fails calls with UNAVAILABLE (503) after this, though a write may still be stored; 0: unbounded")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "herald:", "prefix of every Redis key and channel, so deployments can share a Redis")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: public dev JWT secret if none is set, no API key needed (without --api-keys any key is accepted too), GET /v1/dev/token")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret for user tokens, at least 32 bytes (required unless --jwt-jwks-url or --dev)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "required aud claim of user tokens (empty: not checked)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "required iss claim of user tokens (empty: not checked)")
	durationVar(fs, &c.JWTLeeway, "jwt-leeway", 30*time.Second, "clock skew tolerated on exp and nbf")
	fs.StringVar(&c.JWKSURL, "jwt-jwks-url", "", "JWKS URL whose RS256, ES256 and EdDSA keys verify user tokens (with or instead of --jwt-secret)")
	durationVar(fs, &c.JWKSRefresh, "jwt-jwks-refresh", 15*time.Minute, "how often the JWKS is fetched again in the background")
	durationVar(fs, &c.JWKSMinRefresh, "jwt-jwks-min-refresh", 30*time.Second, "least time between JWKS fetches caused by tokens with an unknown kid")
	fs.Var(&keys, "api-keys", "comma-separated service API key hashes, NAME=sha256:HEX or sha256:HEX (required unless --dev; with --dev, keys given are checked and a wrong one refused; see heraldctl apikey)")
	fs.StringVar(&c.APIKeysFile, "api-keys-file", "", "file of named, scoped API key hashes, read again on SIGHUP and when it changes (see README)")
	fs.Float64Var(&c.NotifyRate, "notify-rate", 0, "notifications per second each service (API key name) may send: per node, or across all nodes with --store=redis (0: unlimited; a key's rate in --api-keys-file wins)")
	fs.IntVar(&c.NotifyBurst, "notify-burst", 0, "burst of --notify-rate (0: one second's worth)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate chain: serve HTTP and gRPC over TLS (with --tls-key; read again on SIGHUP)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	durationVar(fs, &c.HSTSMaxAge, "hsts-max-age", 365*24*time.Hour, "max-age of the Strict-Transport-Security header on HTTPS answers (0: none)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "PEM CAs: NotifyService and SubscriptionService require a client certificate they signed (mutual TLS; needs --tls-cert)")
	fs.IntVar(&c.MaxStreamsPerUser, "max-streams-per-user", 16, "open streams (SSE and gRPC) per user: on this node, or across all nodes with --store=redis; one more is refused with 429")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 0, "open HTTP connections per client address (0: unlimited; behind a proxy all share its address)")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 16<<10, "largest HTTP/1.1 request header block, request line included (at least 4097); 431 beyond")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 1<<20, "largest REST request body")
	durationVar(fs, &c.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time a client has to send an HTTP request header")
	durationVar(fs, &c.IdleTimeout, "idle-timeout", 2*time.Minute, "how long an idle keep-alive HTTP connection is kept")
	fs.Var(&cors, "cors-origins", "comma-separated browser origins allowed to call the stream, stream tickets, the inbox, /v1/me and channel history cross-origin with credentials (CORS); * lets any other origin call them without credentials")
	durationVar(fs, &c.StreamTicketTTL, "stream-ticket-ttl", 30*time.Second, "how long a ticket of POST /v1/stream-tickets may open a stream (single use; at most 10m)")
	fs.Var(&selfSub, "self-subscribe-topics", "comma-separated topic patterns (path.Match globs such as news/*,team:*) that users may subscribe themselves to (empty: none)")
	fs.Var(&pubChan, "public-channels", "comma-separated channel patterns (path.Match globs such as news/*,rooms/*) any valid user token may listen to (empty: none; a token's channels claim opens others)")
	fs.Var(&anonChan, "anonymous-channels", "comma-separated channel patterns that may be streamed and read with no token at all (empty: none)")
	fs.IntVar(&c.MaxChannelsPerStream, "max-channels-per-stream", 16, "most channels one stream listens to; more is refused with 400")
	fs.IntVar(&c.ChannelHistory, "channel-history", 100, "events kept per channel")
	durationVar(fs, &c.ChannelHistoryAge, "channel-history-age", 24*time.Hour, "how long a channel's events are kept")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	durationVar(fs, &c.Heartbeat, "heartbeat", 15*time.Second, "interval of SSE keep-alive comments; on gRPC, of keepalive pings on a silent connection and their timeout")
	durationVar(fs, &c.Retry, "retry", 3*time.Second, "reconnection delay advised to SSE clients")
	fs.IntVar(&c.StreamQueue, "stream-queue", 256, "events queued per stream connection before it is dropped")
	fs.IntVar(&c.RetentionCount, "retention-count", 1000, "inbox entries kept per user")
	fs.IntVar(&c.StoreMemTableMB, "store-memtable-mb", 16, "embedded store's memtable in MiB (1 to 256): each WAL file is preallocated to it, up to four are kept; larger flushes big fan-outs less often for more disk (see README)")
	durationVar(fs, &c.RetentionAge, "retention-age", 720*time.Hour, "how long inbox entries are kept")
	durationVar(fs, &c.IdempotencyWindow, "idempotency-window", 24*time.Hour, "how long idempotency keys are remembered")
	fs.IntVar(&c.MaxTitleBytes, "max-title-bytes", 256, "largest notification title")
	fs.IntVar(&c.MaxBodyBytes, "max-body-bytes", 4096, "largest notification body")
	fs.IntVar(&c.MaxDataBytes, "max-data-bytes", 16384, "largest notification data object, as JSON")
	fs.IntVar(&c.MaxRecipients, "max-recipients", 1000, "most recipients named in one audience")
	fs.IntVar(&c.MaxBatch, "max-batch", 100, "most notifications in one NotifyBatch")
	durationVar(fs, &c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "bound on graceful shutdown")
	fs.Var(&brokers, "kafka-brokers", "comma-separated Kafka bootstrap brokers to consume notifications from (empty: no Kafka consumer)")
	fs.StringVar(&c.KafkaTopic, "kafka-topic", "herald.notifications", "Kafka topic of notifications; bad messages go to <topic>.dlq")
	fs.StringVar(&c.KafkaGroup, "kafka-group", "herald", "Kafka consumer group")
	fs.BoolVar(&c.KafkaEmbedded, "kafka-embedded", false, "development: start an embedded Kafka-protocol broker with the topic created, and consume from it")
	fs.StringVar(&c.KafkaEmbeddedAddr, "kafka-embedded-addr", "127.0.0.1:9092", "listen address of the embedded Kafka broker")
	durationVar(fs, &c.KafkaSessionTimeout, "kafka-session-timeout", 10*time.Second, "how long the Kafka group waits for a silent member before reassigning its partitions (the brokers bound it)")
	fs.IntVar(&c.KafkaBatchSize, "kafka-batch-size", 100, "most Kafka messages of one partition stored and committed together (capped at --max-batch)")
	fs.IntVar(&c.KafkaMaxMessageBytes, "kafka-max-message-bytes", 1<<20, "largest Kafka message value; larger ones go to the dead-letter topic")
	fs.BoolVar(&c.KafkaStrict, "kafka-strict", false, "dead-letter Kafka messages with unknown JSON fields instead of ignoring the fields")
	fs.BoolVar(&c.KafkaTLS, "kafka-tls", false, "connect to the Kafka brokers with TLS")
	fs.StringVar(&c.KafkaTLSCA, "kafka-tls-ca", "", "PEM file of the CAs that Kafka brokers' certificates are checked against (empty: system roots)")
	fs.StringVar(&c.KafkaTLSCert, "kafka-tls-cert", "", "PEM client certificate for Kafka mutual TLS (with --kafka-tls-key)")
	fs.StringVar(&c.KafkaTLSKey, "kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	fs.StringVar(&c.KafkaTLSServerName, "kafka-tls-server-name", "", "name checked in Kafka brokers' certificates (empty: each broker's host)")
	fs.BoolVar(&c.KafkaTLSInsecureSkipVerify, "kafka-tls-insecure-skip-verify", false, "testing only: accept any Kafka broker certificate")
	fs.StringVar(&c.KafkaSASLMechanism, "kafka-sasl-mechanism", "", "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: no SASL)")
	fs.StringVar(&c.KafkaSASLUsername, "kafka-sasl-username", "", "Kafka SASL username")
	fs.StringVar(&c.KafkaSASLPassword, "kafka-sasl-password", "", "Kafka SASL password; prefer the environment variable, which ps does not show")

	// Name the environment variable in each flag's help text.
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " [" + EnvName(f.Name) + "]" })
	fs.Usage = func() {}
	usage := func() {
		fmt.Fprintf(out, "Usage: herald [flags]\n       herald --version\n\nEvery flag can also be set with the environment variable in brackets; flags win.\n\n")
		var defaults strings.Builder
		fs.SetOutput(&defaults)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprint(out, durationTypeName(fs, defaults.String()))
	}

	// The environment first, so that flags parsed afterwards override it.
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvName(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return Config{}, err
		}
		return Config{}, fmt.Errorf("config: %v; %w", err, ErrUsage)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected argument %q (herald takes flags only); %w", fs.Arg(0), ErrUsage)
	}

	c.APIKeys = keys
	c.CORSOrigins = cors
	c.KafkaBrokers = brokers
	c.SelfSubscribeTopics = selfSub
	c.PublicChannels = pubChan
	c.AnonymousChannels = anonChan
	c.RedisAddrs = rAddrs
	c.RedisMode = strings.ToLower(c.RedisMode)
	c.RedisLayout = strings.ToLower(c.RedisLayout)
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.Store = strings.ToLower(c.Store)
	c.KafkaSASLMechanism = strings.ToLower(c.KafkaSASLMechanism)
	if c.Dev && c.JWTSecret == "" {
		c.JWTSecret = DevJWTSecret
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// EnvName is the environment variable of a flag: HERALD_ and the flag's
// name upper-cased with dashes as underscores.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listValue is a comma-separated list flag. Set replaces the whole list, so a
// flag overrides the environment instead of adding to it.
type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = SplitList(s)
	return nil
}

// SplitList splits a comma-separated list, trims each item and drops empty
// ones.
func SplitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
