// Package redisconn makes the one Redis client of a cluster-mode node from
// its flags: a single Redis, a Redis Cluster, or a master found through
// Sentinel. --redis-url carries what every topology shares (user, password,
// database, TLS and the client's query options); the addresses and the
// master's name come apart, because a URL holds one host.
package redisconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Modes of Config.Mode.
const (
	Single   = "single"
	Cluster  = "cluster"
	Sentinel = "sentinel"
)

// clusterStateReload bounds how long a client keeps sending a failed
// master's slots to it after a replica took over: one CLUSTER SLOTS a
// second at most, from each node of Herald.
const clusterStateReload = time.Second

// Config locates Redis.
type Config struct {
	// Mode is Single (default), Cluster or Sentinel.
	Mode string
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS,
	// with go-redis's query options (dial_timeout=2s, pool_size=…). In
	// Single mode it is the server; in the others its host is the seed
	// when Addrs is empty.
	URL string
	// Addrs are host:port seeds of the cluster, or the sentinels.
	Addrs []string
	// SentinelMaster is the name the sentinels monitor the master under.
	SentinelMaster string
	// SentinelPassword authenticates to the sentinels (empty: no AUTH).
	// The URL's user and password authenticate to the master and
	// replicas.
	SentinelPassword string
	// WaitTimeout is the longest WAIT the store sends; the client's read
	// timeout is raised above it so that the reply is read, not cut off.
	WaitTimeout time.Duration
}

// Check reports what is wrong with c, as New would, without connecting.
func (c Config) Check() error {
	_, err := c.options()
	return err
}

// New returns the client of c. It does not connect: the first command does.
func New(c Config) (redis.UniversalClient, error) {
	o, err := c.options()
	if err != nil {
		return nil, err
	}
	switch c.mode() {
	case Cluster:
		return redis.NewClusterClient(o.cluster), nil
	case Sentinel:
		return redis.NewFailoverClient(o.failover), nil
	default:
		return redis.NewClient(o.single), nil
	}
}

// Describe names where c points, for logs and errors; it never holds a
// password.
func (c Config) Describe() string {
	seeds := c.Where()
	switch c.mode() {
	case Cluster:
		return "redis cluster " + seeds
	case Sentinel:
		return fmt.Sprintf("redis sentinel master %q via %s", c.SentinelMaster, seeds)
	default:
		return "redis " + seeds
	}
}

// Where is the server's host:port, or the seeds' separated by commas.
func (c Config) Where() string { return strings.Join(c.seeds(), ",") }

func (c Config) mode() string {
	if c.Mode == "" {
		return Single
	}
	return c.Mode
}

// seeds are Addrs, or the URL's host:port when there are none.
func (c Config) seeds() []string {
	if len(c.Addrs) > 0 {
		return c.Addrs
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return []string{"(unparsable --redis-url)"}
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "6379"
	}
	return []string{net.JoinHostPort(host, port)}
}

type options struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

func (c Config) options() (options, error) {
	// The client's own parser, so that every query option it knows works
	// in every mode.
	o, err := redis.ParseURL(c.URL)
	if err != nil {
		return options{}, fmt.Errorf("--redis-url: %s", redact(err, c.URL))
	}
	if o.DialerRetries == 0 {
		// go-redis dials up to five times per attempt, and a command
		// makes up to four attempts: with Redis down, every call took
		// about 1.7 s to fail. One dial per attempt fails it in about
		// 0.1 s, and the command's own retries still ride out a blip.
		// dialer_retries in the URL wins.
		o.DialerRetries = 1
	}
	if rt := o.ReadTimeout; rt >= 0 && c.WaitTimeout > 0 {
		if rt == 0 {
			rt = 3 * time.Second // go-redis's default
		}
		o.ReadTimeout = max(rt, c.WaitTimeout+time.Second)
	}
	switch c.mode() {
	case Single:
		if len(c.Addrs) > 0 || c.SentinelMaster != "" {
			return options{}, errors.New("--redis-addrs and --redis-sentinel-master need --redis-mode=cluster or sentinel; in single mode --redis-url names the server")
		}
		return options{single: o}, nil
	case Cluster:
		if o.DB != 0 {
			return options{}, fmt.Errorf("--redis-url selects database %d: a Redis Cluster has only database 0", o.DB)
		}
		if c.SentinelMaster != "" {
			return options{}, errors.New("--redis-sentinel-master is set but --redis-mode is cluster")
		}
		if err := checkAddrs(c.Addrs); err != nil {
			return options{}, err
		}
		return options{cluster: clusterOptions(o, c.seeds())}, nil
	case Sentinel:
		if c.SentinelMaster == "" {
			return options{}, errors.New("--redis-mode=sentinel needs --redis-sentinel-master, the name the sentinels monitor the master under")
		}
		if err := checkAddrs(c.Addrs); err != nil {
			return options{}, err
		}
		return options{failover: failoverOptions(o, c)}, nil
	default:
		return options{}, fmt.Errorf("--redis-mode %q: want %s, %s or %s", c.Mode, Single, Cluster, Sentinel)
	}
}

func checkAddrs(addrs []string) error {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("--redis-addrs %q: want host:port", a)
		}
	}
	return nil
}

// serverName is left to each dial in cluster and sentinel modes: nodes
// are reached by the addresses the cluster or the sentinels announce, and
// crypto/tls checks each node's certificate against the host it dialled.
func withoutServerName(o *redis.Options) {
	if o.TLSConfig != nil {
		o.TLSConfig = o.TLSConfig.Clone()
		o.TLSConfig.ServerName = ""
	}
}

// universal carries the URL's options over to the other topologies,
// through go-redis's own conversions (UniversalOptions.Cluster, Failover).
func universal(o *redis.Options, addrs []string) *redis.UniversalOptions {
	withoutServerName(o)
	return &redis.UniversalOptions{
		Addrs:                 addrs,
		ClientName:            o.ClientName,
		Protocol:              o.Protocol,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		MaxRetries:            o.MaxRetries,
		MinRetryBackoff:       o.MinRetryBackoff,
		MaxRetryBackoff:       o.MaxRetryBackoff,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         o.DialerRetries,
		DialerRetryTimeout:    o.DialerRetryTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		ContextTimeoutEnabled: o.ContextTimeoutEnabled,
		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		TLSConfig:             o.TLSConfig,
		DisableIdentity:       o.DisableIdentity,
		IdentitySuffix:        o.IdentitySuffix,
	}
}

func clusterOptions(o *redis.Options, seeds []string) *redis.ClusterOptions {
	co := universal(o, seeds).Cluster()
	// A master that died answers no MOVED, which is what makes go-redis
	// reload the slot map; without it the map is reloaded on use once it
	// is this old (go-redis's default: a minute).
	co.ClusterStateReloadInterval = clusterStateReload
	return co
}

func failoverOptions(o *redis.Options, c Config) *redis.FailoverOptions {
	u := universal(o, c.seeds())
	u.MasterName = c.SentinelMaster
	u.SentinelPassword = c.SentinelPassword
	return u.Failover()
}

// redact hides the URL's password in a parser's message.
func redact(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
