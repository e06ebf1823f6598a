package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/auth"
)

// Validate reports every problem of c at once, so that an operator fixes a
// configuration in one round.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	for _, a := range []struct{ flag, addr string }{{"--http-addr", c.HTTPAddr}, {"--grpc-addr", c.GRPCAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			add("%s %q: want host:port or :port", a.flag, a.addr)
		}
	}
	// Port 0 asks the kernel for a free port, so two such addresses differ.
	if c.HTTPAddr == c.GRPCAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		add("--http-addr and --grpc-addr are both %q", c.HTTPAddr)
	}
	if c.RedisWaitReplicas < 0 {
		add("--redis-wait-replicas %d: must not be negative", c.RedisWaitReplicas)
	}
	if c.RedisWaitTimeout <= 0 || c.RedisWaitTimeout > time.Minute {
		add("--redis-wait-timeout %v: want more than 0 and at most 1m", c.RedisWaitTimeout)
	}
	if c.RedisLayout != "v1" && c.RedisLayout != "v2" {
		add("--redis-layout %q: want v1 or v2", c.RedisLayout)
	}
	if c.StoreTimeout < 0 {
		add("--store-timeout %v: must not be negative", c.StoreTimeout)
	}
	switch c.Store {
	case StoreEmbedded:
		if c.DataDir == "" {
			add("--data-dir is empty")
		}
		// Unused here, but set on purpose: a typo in it would otherwise
		// surface only on the day --store=redis is added.
		if c.RedisURL != DefaultRedisURL {
			if _, err := redis.ParseURL(c.RedisURL); err != nil {
				add("--redis-url: %s (it is set though --store is %s; fix it, or unset it if Redis is not meant)", redactError(err, c.RedisURL), c.Store)
			}
		}
	case StoreRedis:
		// The client's own parser, so that what passes here also opens.
		if err := c.Redis().Check(); err != nil {
			add("%v", err)
		}
		// A brace would open a Redis Cluster hash tag of its own and put
		// a user's keys in different slots.
		if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{}") {
			add("--redis-prefix %q: must be non-empty and without { or }", c.RedisPrefix)
		}
	default:
		add("--store %q: want %s or %s", c.Store, StoreEmbedded, StoreRedis)
	}

	switch {
	case c.JWTSecret == "" && c.JWKSURL == "":
		add("--jwt-secret or --jwt-jwks-url is required (or run with --dev)")
	case c.JWTSecret != "" && len(c.JWTSecret) < auth.MinHS256SecretLen:
		add("--jwt-secret is %d bytes; HS256 needs at least %d", len(c.JWTSecret), auth.MinHS256SecretLen)
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("--jwt-jwks-url: want an http or https URL")
		}
	}
	if !c.Dev && len(c.APIKeys) == 0 && c.APIKeysFile == "" {
		add("--api-keys or --api-keys-file is required (or run with --dev); create a key with `heraldctl apikey`")
	}
	if c.NotifyRate < 0 || c.NotifyBurst < 0 {
		add("--notify-rate and --notify-burst must not be negative")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("--tls-cert and --tls-key go together")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		add("--tls-client-ca needs --tls-cert and --tls-key")
	}
	if c.MaxHeaderBytes < MinHeaderBytes {
		add("--max-header-bytes %d: must be at least %d (net/http reads a header in blocks of 4096 bytes)", c.MaxHeaderBytes, MinHeaderBytes)
	}
	if c.HSTSMaxAge < 0 {
		add("--hsts-max-age %v: must not be negative", c.HSTSMaxAge)
	}
	if c.MaxConnsPerIP < 0 {
		add("--max-conns-per-ip %d: must not be negative", c.MaxConnsPerIP)
	}
	// The rules of a key spec live in auth, which uses them at start.
	if _, err := auth.ParseAPIKeys(c.APIKeys); err != nil {
		add("--api-keys: %w", err)
	}
	for _, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			add("--cors-origins: %w", err)
		}
	}
	if c.StreamTicketTTL <= 0 || c.StreamTicketTTL > 10*time.Minute {
		add("--stream-ticket-ttl %v: want more than 0 and at most 10m (a ticket opens a stream at once)", c.StreamTicketTTL)
	}
	for _, p := range c.SelfSubscribeTopics {
		if _, err := path.Match(p, ""); err != nil {
			add("--self-subscribe-topics: pattern %q: %w", p, err)
		}
	}
	if err := auth.ParseChannelPatterns(c.PublicChannels); err != nil {
		add("--public-channels: %w", err)
	}
	if err := auth.ParseChannelPatterns(c.AnonymousChannels); err != nil {
		add("--anonymous-channels: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		add("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		add("--log-format %q: want text or json", c.LogFormat)
	}

	positive := []struct {
		flag string
		d    time.Duration
	}{
		{"--heartbeat", c.Heartbeat},
		{"--retry", c.Retry},
		{"--retention-age", c.RetentionAge},
		{"--channel-history-age", c.ChannelHistoryAge},
		{"--idempotency-window", c.IdempotencyWindow},
		{"--shutdown-timeout", c.ShutdownTimeout},
		{"--kafka-session-timeout", c.KafkaSessionTimeout},
		{"--jwt-jwks-refresh", c.JWKSRefresh},
		{"--jwt-jwks-min-refresh", c.JWKSMinRefresh},
		{"--read-header-timeout", c.ReadHeaderTimeout},
		{"--idle-timeout", c.IdleTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			add("%s %v: must be positive", p.flag, p.d)
		}
	}
	if c.KafkaEmbedded && len(c.KafkaBrokers) > 0 {
		add("--kafka-embedded and --kafka-brokers exclude each other")
	}
	if (c.KafkaEmbedded || len(c.KafkaBrokers) > 0) && (c.KafkaTopic == "" || c.KafkaGroup == "") {
		add("--kafka-topic and --kafka-group must not be empty")
	}
	if c.KafkaEmbedded {
		if _, _, err := net.SplitHostPort(c.KafkaEmbeddedAddr); err != nil {
			add("--kafka-embedded-addr %q: want host:port", c.KafkaEmbeddedAddr)
		}
	}
	errs = append(errs, c.validateKafkaSecurity()...)
	if c.JWTLeeway < 0 {
		add("--jwt-leeway %v: must not be negative", c.JWTLeeway)
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			add("--pprof-addr %q: want host:port", c.PprofAddr)
		}
	}
	counts := []struct {
		flag string
		n    int
	}{
		{"--stream-queue", c.StreamQueue},
		{"--retention-count", c.RetentionCount},
		{"--store-memtable-mb", c.StoreMemTableMB},
		{"--max-title-bytes", c.MaxTitleBytes},
		{"--max-body-bytes", c.MaxBodyBytes},
		{"--max-data-bytes", c.MaxDataBytes},
		{"--max-recipients", c.MaxRecipients},
		{"--max-batch", c.MaxBatch},
		{"--kafka-batch-size", c.KafkaBatchSize},
		{"--kafka-max-message-bytes", c.KafkaMaxMessageBytes},
		{"--max-streams-per-user", c.MaxStreamsPerUser},
		{"--max-request-bytes", c.MaxRequestBytes},
		{"--max-channels-per-stream", c.MaxChannelsPerStream},
		{"--channel-history", c.ChannelHistory},
	}
	for _, p := range counts {
		if p.n <= 0 {
			add("%s %d: must be positive", p.flag, p.n)
		}
	}
	if c.StoreMemTableMB > 256 {
		add("--store-memtable-mb %d: at most 256 (each WAL file is preallocated to it)", c.StoreMemTableMB)
	}
	return errors.Join(errs...)
}

// validateKafkaSecurity checks the TLS and SASL flags; the files are read,
// and so checked, when the consumer is built at start.
func (c Config) validateKafkaSecurity() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	tlsFiles := c.KafkaTLSCA != "" || c.KafkaTLSCert != "" || c.KafkaTLSKey != "" ||
		c.KafkaTLSServerName != "" || c.KafkaTLSInsecureSkipVerify
	if tlsFiles && !c.KafkaTLS {
		add("--kafka-tls-ca, --kafka-tls-cert, --kafka-tls-key, --kafka-tls-server-name and --kafka-tls-insecure-skip-verify need --kafka-tls")
	}
	if (c.KafkaTLSCert == "") != (c.KafkaTLSKey == "") {
		add("--kafka-tls-cert and --kafka-tls-key go together")
	}
	switch c.KafkaSASLMechanism {
	case "":
		if c.KafkaSASLUsername != "" || c.KafkaSASLPassword != "" {
			add("--kafka-sasl-username and --kafka-sasl-password need --kafka-sasl-mechanism")
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.KafkaSASLUsername == "" || c.KafkaSASLPassword == "" {
			add("--kafka-sasl-mechanism %s needs --kafka-sasl-username and --kafka-sasl-password", c.KafkaSASLMechanism)
		}
	default:
		add("--kafka-sasl-mechanism %q: want plain, scram-sha-256 or scram-sha-512", c.KafkaSASLMechanism)
	}
	// The embedded broker speaks plaintext without authentication.
	if c.KafkaEmbedded && (c.KafkaTLS || c.KafkaSASLMechanism != "") {
		add("--kafka-embedded takes no --kafka-tls or --kafka-sasl-mechanism")
	}
	return errs
}

// checkOrigin accepts "*" or a bare origin such as https://app.example.com,
// the form browsers send in the Origin header.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want scheme://host[:port] with no path, or *", o)
	}
	return nil
}

// redactError is err's message with the password of rawURL, if any, taken
// out: parse errors may quote the URL.
func redactError(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
