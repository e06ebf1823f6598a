package redisconn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		c       Config
		wantErr string // "" for none
	}{
		{"single default", Config{URL: "redis://127.0.0.1:6379/0"}, ""},
		{"single explicit", Config{Mode: Single, URL: "rediss://u:p@redis.example:6380/3"}, ""},
		{"single with addrs", Config{URL: "redis://h:1", Addrs: []string{"a:1"}}, "need --redis-mode=cluster or sentinel"},
		{"cluster seeds", Config{Mode: Cluster, URL: "redis://u:p@x:1/0", Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}, ""},
		{"cluster url seed", Config{Mode: Cluster, URL: "rediss://clustercfg.example:6379"}, ""},
		{"cluster db", Config{Mode: Cluster, URL: "redis://x:1/2"}, "only database 0"},
		{"cluster with master", Config{Mode: Cluster, URL: "redis://x:1", SentinelMaster: "m"}, "--redis-mode is cluster"},
		{"cluster bad addr", Config{Mode: Cluster, URL: "redis://x:1", Addrs: []string{"nohost"}}, `--redis-addrs "nohost": want host:port`},
		{"sentinel", Config{Mode: Sentinel, URL: "redis://:pw@x:1/4", Addrs: []string{"s1:26379", "s2:26379"}, SentinelMaster: "herald"}, ""},
		{"sentinel without master", Config{Mode: Sentinel, URL: "redis://x:1", Addrs: []string{"s1:26379"}}, "needs --redis-sentinel-master"},
		{"unknown mode", Config{Mode: "ring", URL: "redis://x:1"}, `--redis-mode "ring"`},
		{"bad url", Config{URL: "http://x:1"}, "--redis-url"},
		{"bad option hides password", Config{URL: "redis://u:s3cret@x:1/0?nope=1"}, "--redis-url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Check()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Check() = %v, want an error containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("Check() = %v: shows the password", err)
			}
		})
	}
}

func TestNewTopology(t *testing.T) {
	single, err := New(Config{URL: "redis://127.0.0.1:6379/2"})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if c, ok := single.(*redis.Client); !ok || c.Options().DB != 2 || c.Options().DialerRetries != 1 {
		t.Errorf("single: %T, want *redis.Client on database 2, one dial per attempt", single)
	}
	// A client whose Redis refuses connections fails fast, naming why.
	down, err := New(Config{URL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := down.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Ping of a closed port within 1s: %v, want connection refused", err)
	}

	cl, err := New(Config{Mode: Cluster, URL: "rediss://user:pw@cfg.example:6379?dial_timeout=3s&pool_size=7", Addrs: []string{"n1:7000", "n2:7000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cc, ok := cl.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster: %T, want *redis.ClusterClient", cl)
	}
	o := cc.Options()
	if strings.Join(o.Addrs, ",") != "n1:7000,n2:7000" || o.Username != "user" || o.Password != "pw" || o.PoolSize != 7 || o.DialTimeout.Seconds() != 3 ||
		o.DialerRetries != 1 || o.ClusterStateReloadInterval != time.Second {
		t.Errorf("cluster options: addrs %v user %q password %q pool %d dial %v", o.Addrs, o.Username, o.Password, o.PoolSize, o.DialTimeout)
	}
	// Each node's certificate is checked against the host it is dialled by.
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "" {
		t.Errorf("cluster TLS config %+v: want TLS with the server name left to each dial", o.TLSConfig)
	}

	fo, err := New(Config{Mode: Sentinel, URL: "redis://:pw@ignored:1/5", Addrs: []string{"s1:26379"}, SentinelMaster: "herald"})
	if err != nil {
		t.Fatal(err)
	}
	defer fo.Close()
	if c, ok := fo.(*redis.Client); !ok || c.Options().DB != 5 || c.Options().Password != "pw" {
		t.Errorf("sentinel: %T, want a failover *redis.Client on database 5 with the URL's password", fo)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		c          Config
		where, say string
	}{
		{Config{URL: "redis://u:secret@h:6380/0"}, "h:6380", "redis h:6380"},
		{Config{URL: "redis://h"}, "h:6379", "redis h:6379"},
		{Config{Mode: Cluster, URL: "redis://u:secret@cfg:7000"}, "cfg:7000", "redis cluster cfg:7000"},
		{Config{Mode: Sentinel, URL: "redis://x:1", Addrs: []string{"a:1", "b:2"}, SentinelMaster: "m"}, "a:1,b:2", `redis sentinel master "m" via a:1,b:2`},
	}
	for _, tc := range tests {
		if got := tc.c.Where(); got != tc.where {
			t.Errorf("Where() = %q, want %q", got, tc.where)
		}
		if got := tc.c.Describe(); got != tc.say {
			t.Errorf("Describe() = %q, want %q", got, tc.say)
		}
	}
}
