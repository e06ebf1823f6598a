package config_test

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
)

const (
	secret = "0123456789abcdef0123456789abcdef" // 32 bytes
	hashA  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB  = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func env(kv ...string) func(string) string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func load(t *testing.T, args []string, getenv func(string) string) (config.Config, error) {
	t.Helper()
	var out bytes.Buffer
	c, err := config.LoadTo(&out, args, getenv)
	return c, err
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got, err := load(t, []string{"--dev"}, env())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Config{
		HTTPAddr:          ":8080",
		GRPCAddr:          ":9090",
		DataDir:           "./data",
		Store:             "embedded",
		RedisURL:          "redis://127.0.0.1:6379/0",
		RedisMode:         "single",
		StoreTimeout:      5 * time.Second,
		RedisWaitTimeout:  time.Second,
		RedisLayout:       "v2",
		RedisPrefix:       "herald:",
		Dev:               true,
		JWTSecret:         config.DevJWTSecret,
		JWTLeeway:         30 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
		Heartbeat:         15 * time.Second,
		Retry:             3 * time.Second,
		StreamQueue:       256,
		RetentionCount:    1000,
		StoreMemTableMB:   16,
		RetentionAge:      720 * time.Hour,
		IdempotencyWindow: 24 * time.Hour,
		MaxTitleBytes:     256,
		MaxBodyBytes:      4096,
		MaxDataBytes:      16384,
		MaxRecipients:     1000,
		MaxBatch:          100,
		ShutdownTimeout:   20 * time.Second,
		KafkaTopic:        "herald.notifications",
		KafkaGroup:        "herald",
		KafkaEmbeddedAddr: "127.0.0.1:9092",

		KafkaSessionTimeout:  10 * time.Second,
		KafkaBatchSize:       100,
		KafkaMaxMessageBytes: 1 << 20,

		JWKSRefresh:          15 * time.Minute,
		JWKSMinRefresh:       30 * time.Second,
		MaxStreamsPerUser:    16,
		MaxChannelsPerStream: 16,
		ChannelHistory:       100,
		ChannelHistoryAge:    24 * time.Hour,
		MaxHeaderBytes:       16 << 10,
		MaxRequestBytes:      1 << 20,
		HSTSMaxAge:           365 * 24 * time.Hour,
		ReadHeaderTimeout:    5 * time.Second,
		IdleTimeout:          2 * time.Minute,
		StreamTicketTTL:      30 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(--dev) =\n%+v\nwant\n%+v", got, want)
	}
	if !got.UsesDevSecret() {
		t.Error("UsesDevSecret() = false with --dev and no secret")
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   func(string) string
		check func(config.Config) (got, want any)
	}{
		{
			name:  "env only",
			args:  []string{"--dev"},
			env:   env("HERALD_HTTP_ADDR", ":1234"),
			check: func(c config.Config) (any, any) { return c.HTTPAddr, ":1234" },
		},
		{
			name:  "flag beats env",
			args:  []string{"--dev", "--http-addr=:4321"},
			env:   env("HERALD_HTTP_ADDR", ":1234"),
			check: func(c config.Config) (any, any) { return c.HTTPAddr, ":4321" },
		},
		{
			name:  "bool from env",
			args:  []string{"--jwt-secret", secret},
			env:   env("HERALD_DEV", "true"),
			check: func(c config.Config) (any, any) { return c.Dev, true },
		},
		{
			name:  "flag turns env bool off",
			args:  []string{"--dev=false", "--jwt-secret", secret, "--api-keys", hashA},
			env:   env("HERALD_DEV", "true"),
			check: func(c config.Config) (any, any) { return c.Dev, false },
		},
		{
			name: "duration from env",
			args: []string{"--dev"},
			env:  env("HERALD_HEARTBEAT", "2s", "HERALD_RETENTION_AGE", "1h30m"),
			check: func(c config.Config) (any, any) {
				return [2]time.Duration{c.Heartbeat, c.RetentionAge}, [2]time.Duration{2 * time.Second, 90 * time.Minute}
			},
		},
		{
			name:  "int flag beats env",
			args:  []string{"--dev", "--max-batch", "7"},
			env:   env("HERALD_MAX_BATCH", "9"),
			check: func(c config.Config) (any, any) { return c.MaxBatch, 7 },
		},
		{
			name:  "list flag replaces env list",
			args:  []string{"--dev", "--cors-origins", "https://b.example"},
			env:   env("HERALD_CORS_ORIGINS", "https://a.example"),
			check: func(c config.Config) (any, any) { return c.CORSOrigins, []string{"https://b.example"} },
		},
		{
			name:  "secret from env",
			args:  []string{"--dev"},
			env:   env("HERALD_JWT_SECRET", secret),
			check: func(c config.Config) (any, any) { return c.JWTSecret, secret },
		},
		{
			name: "kafka security from env and flags",
			args: []string{"--dev", "--kafka-brokers", "127.0.0.1:9093", "--kafka-tls", "--kafka-tls-ca", "/etc/ca.pem",
				"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-username", "herald"},
			env: env("HERALD_KAFKA_SASL_PASSWORD", "s3cret", "HERALD_KAFKA_TLS_SERVER_NAME", "kafka.internal"),
			check: func(c config.Config) (any, any) {
				return []any{c.KafkaTLS, c.KafkaTLSCA, c.KafkaTLSServerName, c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword},
					[]any{true, "/etc/ca.pem", "kafka.internal", "scram-sha-512", "herald", "s3cret"}
			},
		},
		{
			name: "kafka consumer settings",
			args: []string{"--dev", "--kafka-session-timeout", "30s", "--kafka-batch-size", "500", "--kafka-strict"},
			env:  env("HERALD_KAFKA_MAX_MESSAGE_BYTES", "65536"),
			check: func(c config.Config) (any, any) {
				return []any{c.KafkaSessionTimeout, c.KafkaBatchSize, c.KafkaMaxMessageBytes, c.KafkaStrict},
					[]any{30 * time.Second, 500, 65536, true}
			},
		},
		{
			name: "log level",
			args: []string{"--dev", "--log-level=debug", "--log-format=json"},
			env:  env(),
			check: func(c config.Config) (any, any) {
				return [2]string{c.LogLevel, c.LogFormat}, [2]string{"debug", "json"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.args, err)
			}
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLists(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keys     string
		cors     string
		wantKeys []string
		wantCORS []string
	}{
		{
			name:     "named and bare keys, spaces and empty items",
			keys:     " backend=" + hashA + " ,, " + hashB + ",",
			cors:     " https://a.example ,,http://localhost:3000, ",
			wantKeys: []string{"backend=" + hashA, hashB},
			wantCORS: []string{"https://a.example", "http://localhost:3000"},
		},
		{
			name:     "wildcard origin",
			keys:     hashA,
			cors:     "*",
			wantKeys: []string{hashA},
			wantCORS: []string{"*"},
		},
		{
			name:     "only separators",
			keys:     hashA,
			cors:     " , ,",
			wantKeys: []string{hashA},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, []string{"--jwt-secret", secret, "--api-keys", tt.keys, "--cors-origins", tt.cors}, env())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.APIKeys, tt.wantKeys) {
				t.Errorf("APIKeys = %+v, want %+v", c.APIKeys, tt.wantKeys)
			}
			if !reflect.DeepEqual(c.CORSOrigins, tt.wantCORS) {
				t.Errorf("CORSOrigins = %q, want %q", c.CORSOrigins, tt.wantCORS)
			}
		})
	}
}

func TestSelfSubscribeTopics(t *testing.T) {
	t.Parallel()
	prod := []string{"--jwt-secret", secret, "--api-keys", hashA}
	c, err := load(t, append(prod, "--self-subscribe-topics", " news/* ,,team:*"), env("HERALD_SELF_SUBSCRIBE_TOPICS", "ignored/*"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := []string{"news/*", "team:*"}; !reflect.DeepEqual(c.SelfSubscribeTopics, want) {
		t.Errorf("SelfSubscribeTopics = %q, want %q (the flag replaces the environment)", c.SelfSubscribeTopics, want)
	}
	c, err = load(t, prod, env("HERALD_SELF_SUBSCRIBE_TOPICS", "order:*"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := []string{"order:*"}; !reflect.DeepEqual(c.SelfSubscribeTopics, want) {
		t.Errorf("SelfSubscribeTopics from env = %q, want %q", c.SelfSubscribeTopics, want)
	}
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	prod := []string{"--jwt-secret", secret, "--api-keys", hashA}
	tests := []struct {
		name string
		args []string
		env  func(string) string
		want string // substring of the error
	}{
		{"no secret without dev", []string{"--api-keys", hashA}, env(), "--jwt-secret or --jwt-jwks-url is required"},
		{"jwks url not http", []string{"--api-keys", hashA, "--jwt-jwks-url", "file:///etc/keys"}, env(), "--jwt-jwks-url: want an http or https URL"},
		{"tls key without cert", []string{"--dev", "--tls-key", "k.pem"}, env(), "--tls-cert and --tls-key go together"},
		{"client ca without tls", []string{"--dev", "--tls-client-ca", "ca.pem"}, env(), "--tls-client-ca needs --tls-cert"},
		{"negative notify rate", []string{"--dev", "--notify-rate", "-1"}, env(), "--notify-rate and --notify-burst must not be negative"},
		{"zero streams per user", []string{"--dev", "--max-streams-per-user", "0"}, env(), "--max-streams-per-user 0: must be positive"},
		{"no api keys without dev", []string{"--jwt-secret", secret}, env(), "--api-keys or --api-keys-file is required"},
		{"short secret", []string{"--jwt-secret", "short", "--api-keys", hashA}, env(), "at least 32"},
		{"short secret in dev", []string{"--dev", "--jwt-secret", "short"}, env(), "at least 32"},
		{"raw key instead of hash", append(prod[:2:2], "--api-keys", "hk_secretkey"), env(), "never the key"},
		{"short hash", append(prod[:2:2], "--api-keys", "sha256:abcd"), env(), "hex digits"},
		{"empty key name", append(prod[:2:2], "--api-keys", "="+hashA), env(), "service name"},
		{"duplicate key", append(prod[:2:2], "--api-keys", "a="+hashA+",b="+hashA), env(), "already listed"},
		{"bad duration flag", append(prod, "--heartbeat", "soon"), env(), "invalid value"},
		{"bad duration env", prod, env("HERALD_RETRY", "soon"), "HERALD_RETRY"},
		{"bad int env", prod, env("HERALD_MAX_BATCH", "many"), "HERALD_MAX_BATCH"},
		{"zero heartbeat", append(prod, "--heartbeat", "0s"), env(), "--heartbeat 0s: must be positive"},
		{"negative leeway", append(prod, "--jwt-leeway", "-1s"), env(), "--jwt-leeway"},
		{"embedded kafka and brokers", append(prod, "--kafka-embedded", "--kafka-brokers", "127.0.0.1:9092"), env(), "exclude each other"},
		{"bad pprof addr", append(prod, "--pprof-addr", "6060"), env(), "--pprof-addr"},
		{"empty kafka topic", append(prod, "--kafka-brokers", "127.0.0.1:9092", "--kafka-topic", ""), env(), "--kafka-topic"},
		{"bad embedded kafka addr", append(prod, "--kafka-embedded", "--kafka-embedded-addr", "nope"), env(), "--kafka-embedded-addr"},
		{"zero kafka session timeout", append(prod, "--kafka-session-timeout", "0s"), env(), "--kafka-session-timeout 0s: must be positive"},
		{"zero kafka batch size", append(prod, "--kafka-batch-size", "0"), env(), "--kafka-batch-size 0: must be positive"},
		{"negative kafka message bytes", append(prod, "--kafka-max-message-bytes", "-1"), env(), "--kafka-max-message-bytes -1"},
		{"bad kafka batch size env", prod, env("HERALD_KAFKA_BATCH_SIZE", "lots"), "HERALD_KAFKA_BATCH_SIZE"},
		{"unknown sasl mechanism", append(prod, "--kafka-sasl-mechanism", "gssapi"), env(), `--kafka-sasl-mechanism "gssapi"`},
		{"sasl without username", append(prod, "--kafka-sasl-mechanism", "plain", "--kafka-sasl-password", "p"), env(), "needs --kafka-sasl-username"},
		{"sasl without password", append(prod, "--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "u"), env(), "needs --kafka-sasl-username and --kafka-sasl-password"},
		{"sasl credentials without mechanism", append(prod, "--kafka-sasl-username", "u"), env("HERALD_KAFKA_SASL_PASSWORD", "p"), "need --kafka-sasl-mechanism"},
		{"tls cert without key", append(prod, "--kafka-tls", "--kafka-tls-cert", "c.pem"), env(), "--kafka-tls-cert and --kafka-tls-key go together"},
		{"tls ca without tls", append(prod, "--kafka-tls-ca", "ca.pem"), env(), "need --kafka-tls"},
		{"skip verify without tls", append(prod, "--kafka-tls-insecure-skip-verify"), env(), "need --kafka-tls"},
		{"security with embedded kafka", append(prod, "--kafka-embedded", "--kafka-tls"), env(), "--kafka-embedded takes no"},
		{"zero queue", append(prod, "--stream-queue", "0"), env(), "--stream-queue 0"},
		{"negative limit", append(prod, "--max-body-bytes", "-5"), env(), "--max-body-bytes -5"},
		{"header limit within net/http's slop", append(prod, "--max-header-bytes", "4096"), env(), "--max-header-bytes 4096: must be at least 4097"},
		{"negative hsts max-age", append(prod, "--hsts-max-age", "-1s"), env(), "--hsts-max-age -1s"},
		{"bad log level", append(prod, "--log-level", "loud"), env(), "--log-level"},
		{"bad log format", append(prod, "--log-format", "xml"), env(), "--log-format"},
		{"bad address", append(prod, "--http-addr", "8080"), env(), "--http-addr"},
		{"same addresses", append(prod, "--http-addr", ":7000", "--grpc-addr", ":7000"), env(), "both"},
		{"origin with path", append(prod, "--cors-origins", "https://a.example/app"), env(), "--cors-origins"},
		{"origin without scheme", append(prod, "--cors-origins", "a.example"), env(), "--cors-origins"},
		{"bad self-subscribe pattern", append(prod, "--self-subscribe-topics", "news/*,team[:*"), env(), `--self-subscribe-topics: pattern "team[:*"`},
		{"bad self-subscribe pattern env", prod, env("HERALD_SELF_SUBSCRIBE_TOPICS", `a\`), "--self-subscribe-topics"},
		{"unknown flag", append(prod, "--nope"), env(), "not defined"},
		{"positional argument", append(prod, "extra"), env(), "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%q) error = %v, want it to contain %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestValidationReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := load(t, []string{"--heartbeat=0s", "--max-batch=0"}, env())
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	for _, want := range []string{"--jwt-secret", "--api-keys", "--heartbeat", "--max-batch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := config.LoadTo(&out, []string{"--help"}, env())
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(--help) error = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: herald", "-http-addr", "HERALD_HTTP_ADDR", "-api-keys", "HERALD_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not contain %q:\n%s", want, out.String())
		}
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"http-addr":          "HERALD_HTTP_ADDR",
		"dev":                "HERALD_DEV",
		"idempotency-window": "HERALD_IDEMPOTENCY_WINDOW",
	}
	for in, want := range tests {
		if got := config.EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"a", []string{"a"}},
		{" a , b,,c ", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		if got := config.SplitList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLogValueHidesSecret(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--jwt-secret", secret, "--api-keys", hashA}, env())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), secret) {
		t.Errorf("log line contains the secret: %s", buf.String())
	}
	if c.UsesDevSecret() {
		t.Error("UsesDevSecret() = true with an explicit secret")
	}
}

// The Kafka password reaches the Config but neither its log line nor the
// usage text, even when it comes from the environment.
func TestKafkaPasswordStaysSecret(t *testing.T) {
	t.Parallel()
	const password = "kafka-pa55word-not-for-logs"
	getenv := env("HERALD_KAFKA_SASL_PASSWORD", password)
	c, err := load(t, []string{"--dev", "--kafka-brokers", "127.0.0.1:9093",
		"--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "herald"}, getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.KafkaSASLPassword != password {
		t.Errorf("KafkaSASLPassword = %q, want the one from the environment", c.KafkaSASLPassword)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), password) {
		t.Errorf("log line contains the Kafka password: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"kafka_sasl_password":"set"`) {
		t.Errorf("log line does not say the Kafka password is set: %s", buf.String())
	}
	var usage bytes.Buffer
	if _, err := config.LoadTo(&usage, []string{"--help"}, getenv); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(--help) error = %v, want flag.ErrHelp", err)
	}
	if strings.Contains(usage.String(), password) {
		t.Errorf("usage contains the Kafka password:\n%s", usage.String())
	}
	if !strings.Contains(usage.String(), "HERALD_KAFKA_SASL_PASSWORD") {
		t.Errorf("usage does not name HERALD_KAFKA_SASL_PASSWORD:\n%s", usage.String())
	}
}

func TestAcceptsHashAPIKeyOutput(t *testing.T) {
	t.Parallel()
	spec := "billing=" + auth.HashAPIKey("hk_example")
	c, err := load(t, []string{"--jwt-secret", secret}, env("HERALD_API_KEYS", spec))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := []string{spec}; !reflect.DeepEqual(c.APIKeys, want) {
		t.Errorf("APIKeys = %q, want %q", c.APIKeys, want)
	}
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	prod := []string{"--jwt-secret", secret, "--api-keys", hashA}
	c, err := load(t, append(prod, "--store=redis", "--redis-prefix", "hq:"),
		env("HERALD_REDIS_URL", "redis://:pw@10.0.0.5:6380/2", "HERALD_STORE", "embedded"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := [3]string{c.Store, c.RedisURL, c.RedisPrefix}, [3]string{"redis", "redis://:pw@10.0.0.5:6380/2", "hq:"}; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	c, err = load(t, append(prod, "--store=redis", "--redis-mode=Sentinel", "--redis-sentinel-master=herald"),
		env("HERALD_REDIS_ADDRS", "10.0.0.7:26379, 10.0.0.8:26379", "HERALD_REDIS_URL", "redis://:pw@10.0.0.5:6380/2",
			"HERALD_REDIS_SENTINEL_PASSWORD", "sentinel-pw"))
	if err != nil {
		t.Fatalf("Load sentinel: %v", err)
	}
	if got, want := c.Redis().Describe(), `redis sentinel master "herald" via 10.0.0.7:26379,10.0.0.8:26379`; got != want {
		t.Errorf("Redis().Describe() = %q, want %q", got, want)
	}
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "config", c)
	if strings.Contains(out.String(), "pw@") || strings.Contains(out.String(), "sentinel-pw") || !strings.Contains(out.String(), "10.0.0.5:6380") {
		t.Errorf("logged config %q: want the Redis address without its password", out.String())
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"unknown store", []string{"--store=postgres"}, `--store "postgres": want embedded or redis`},
		{"bad url", []string{"--store=redis", "--redis-url=http://x"}, "--redis-url"},
		{"password kept out of errors", []string{"--store=redis", "--redis-url=redis://:s3cret@host:1/notadb"}, "--redis-url"},
		{"empty prefix", []string{"--store=redis", "--redis-prefix="}, "--redis-prefix"},
		{"brace in prefix", []string{"--store=redis", "--redis-prefix={x}:"}, "--redis-prefix"},
		{"unknown mode", []string{"--store=redis", "--redis-mode=ring"}, `--redis-mode "ring": want single, cluster or sentinel`},
		{"unknown layout", []string{"--store=redis", "--redis-layout=v3"}, `--redis-layout "v3": want v1 or v2`},
		{"sentinel without master", []string{"--store=redis", "--redis-mode=sentinel", "--redis-addrs=127.0.0.1:26379"}, "needs --redis-sentinel-master"},
		{"cluster on a database", []string{"--store=redis", "--redis-mode=cluster", "--redis-url=redis://h:7000/1"}, "only database 0"},
		{"seeds without a mode", []string{"--store=redis", "--redis-addrs=a:1,b:2"}, "need --redis-mode=cluster or sentinel"},
		{"seed without a port", []string{"--store=redis", "--redis-mode=cluster", "--redis-addrs=a:1,b"}, `--redis-addrs "b"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, append(append([]string{}, prod...), tt.args...), env())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%q) error %v, want it to mention %q", tt.args, err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	// The Redis flags are not checked with the embedded store.
	if _, err := load(t, append(prod, "--redis-prefix="), env()); err != nil {
		t.Errorf("embedded store with an empty Redis prefix: %v", err)
	}
}
