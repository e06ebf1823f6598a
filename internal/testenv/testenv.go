// Package testenv decides what a test does when an outside component it
// drives is missing: a Redis server, or a program such as redis-server,
// nginx, chromium, chromedriver, kcat, grpcurl or kubeconform.
//
// Outside CI the test skips, saying what is missing and where it comes
// from, so that `go test` works on a laptop with none of them. Under CI
// (the CI environment variable set to a true value, as .ci/run does) the
// test fails naming the component instead: CI installs every component, so
// a missing one is a broken build machine, and skipping would let it go
// green without running the tests that need it.
//
// Some things are not components CI provides, and tests that need them call
// Optional, which skips everywhere: a Docker Compose client (.ci/run installs
// no Docker). Neither are `go test -short` or an open-files limit below what
// a test needs: see NeedOpenFiles for the latter.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAddrEnv names the environment variable that overrides the Redis the
// tests use (default DefaultRedisAddr).
const RedisAddrEnv = "HERALD_TEST_REDIS_ADDR"

// DefaultRedisAddr is the Redis .ci/run starts.
const DefaultRedisAddr = "127.0.0.1:6379"

// InCI reports whether the tests run under CI: the CI environment variable
// holds a true value ("true", "1", as strconv.ParseBool reads it).
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// Missing stops t because component is missing: it fails under CI and
// skips elsewhere. how says where the component comes from, such as
// "Debian package kcat" or "make tools"; detail is what was tried.
func Missing(t testing.TB, component, how, detail string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing (%s), and CI must provide it: %s", component, how, detail)
		return
	}
	t.Skipf("%s is missing (%s): %s", component, how, detail)
}

// Optional skips t, everywhere, because it needs something that is not one
// of the components CI provides (see the package comment).
func Optional(t testing.TB, component, detail string) {
	t.Helper()
	t.Skipf("%s is not here, and CI does not provide it: %s", component, detail)
}

// sbin holds the directories Debian installs daemons in, often missing from
// a user's PATH (nginx is /usr/sbin/nginx).
var sbin = []string{"/usr/sbin", "/sbin"}

// NeedCommand returns the path of program name, looked up in the
// directories given first, then on PATH, then in /usr/sbin and /sbin. When
// it is not found, t is stopped as Missing says; how says where the
// program comes from.
func NeedCommand(t testing.TB, name, how string, dirs ...string) string {
	t.Helper()
	for _, d := range dirs {
		if p, ok := executable(filepath.Join(d, name)); ok {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range sbin {
		if p, ok := executable(filepath.Join(d, name)); ok {
			return p
		}
	}
	where := append(dirs[:len(dirs):len(dirs)], "$PATH")
	Missing(t, name, how, "not found in "+strings.Join(append(where, sbin...), ", "))
	return ""
}

func executable(p string) (string, bool) {
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", false
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false
	}
	return abs, true
}

// RedisAddr returns the address of the Redis the tests use: the value of
// HERALD_TEST_REDIS_ADDR, or DefaultRedisAddr.
func RedisAddr() string {
	if a := os.Getenv(RedisAddrEnv); a != "" {
		return a
	}
	return DefaultRedisAddr
}

// NeedRedis returns a client of the Redis at addr, closed when t ends. When
// Redis does not answer PING there within a few seconds, t is stopped as
// Missing says. Tests share that Redis: each uses keys under a prefix of
// its own.
func NeedRedis(t testing.TB, addr string) *redis.Client {
	t.Helper()
	// The probe does not retry: a refused connection is an answer.
	probe := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := probe.Ping(ctx).Err()
	_ = probe.Close()
	if err != nil {
		Missing(t, "Redis", "Debian package redis-server; .ci/run starts it", "no answer at "+addr+" ("+RedisAddrEnv+"): "+err.Error())
		return nil
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// NeedOpenFiles raises the soft open-files limit of this process to its
// hard limit, which processes it starts afterwards inherit, and stops t
// when that is still below need. The limit is not a component, but the
// tests that need many files are the ones that prove connection and stream
// limits hold, so under CI a low limit fails too: .ci/run runs as root and
// can raise it.
func NeedOpenFiles(t testing.TB, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.Cur < need {
		Missing(t, "an open-files limit of "+strconv.FormatUint(need, 10), "ulimit -n; raise the hard limit as root",
			"the limit is "+strconv.FormatUint(lim.Cur, 10))
	}
}

// ClosedAddr returns a 127.0.0.1 address that nothing listened on a moment
// ago, for tests of a component that cannot be reached. Another process may
// take the port meanwhile: assert on where the cause is, not on its text.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
