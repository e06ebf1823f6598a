package testenv_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

// recorder is a testing.TB that records how a helper stopped it instead of
// stopping: Fatalf and Skipf return, as the helpers' callers never rely on.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Cleanup(f func()) { r.TB.Cleanup(f) }

// TestMissing: under CI a missing component fails the test and names the
// component; elsewhere it skips it, naming it too. Not parallel: it sets
// the CI variable.
func TestMissing(t *testing.T) {
	redisAddr := testenv.ClosedAddr(t)
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{
		{"true", true},
		{"1", true},
		{"", false},
		{"false", false},
		{"0", false},
		{"nonsense", false},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			if got := testenv.InCI(); got != tc.wantFail {
				t.Fatalf("InCI() = %v, want %v", got, tc.wantFail)
			}
			for _, c := range []struct {
				component string
				call      func(tb testing.TB)
			}{
				{"Redis", func(tb testing.TB) {
					if c := testenv.NeedRedis(tb, redisAddr); c != nil {
						t.Errorf("NeedRedis(%s) returned a client", redisAddr)
					}
				}},
				{"herald-no-such-program", func(tb testing.TB) {
					if p := testenv.NeedCommand(tb, "herald-no-such-program", "nowhere", t.TempDir()); p != "" {
						t.Errorf("NeedCommand returned %q", p)
					}
				}},
				{"an open-files limit", func(tb testing.TB) { testenv.NeedOpenFiles(tb, 1<<62) }},
			} {
				r := &recorder{TB: t}
				c.call(r)
				got, other := r.skipped, r.failed
				if tc.wantFail {
					got, other = r.failed, r.skipped
				}
				if !strings.Contains(got, c.component) {
					t.Errorf("%s: stopped with fail %q, skip %q; want the %s naming %q", c.component, r.failed, r.skipped, map[bool]string{true: "failure", false: "skip"}[tc.wantFail], c.component)
				}
				if other != "" {
					t.Errorf("%s: also %q", c.component, other)
				}
			}
		})
	}
}

// TestOptionalSkipsUnderCI: what CI does not provide skips everywhere.
func TestOptionalSkipsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	testenv.Optional(r, "docker compose", "no client")
	if r.failed != "" || !strings.Contains(r.skipped, "docker compose") {
		t.Errorf("fail %q, skip %q; want a skip naming docker compose", r.failed, r.skipped)
	}
}

func TestNeedCommandFinds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "herald-tool")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	if got := testenv.NeedCommand(r, "herald-tool", "here", dir); got != p {
		t.Errorf("NeedCommand in %s = %q, want %q", dir, got, p)
	}
	if r.failed != "" || r.skipped != "" {
		t.Errorf("stopped: fail %q, skip %q", r.failed, r.skipped)
	}
	// A file that is not executable is not the program.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	r = &recorder{TB: t}
	if got := testenv.NeedCommand(r, "herald-tool", "here", dir); got != "" || r.skipped == "" && r.failed == "" {
		t.Errorf("NeedCommand found a non-executable file: %q", got)
	}
}

func TestRedisAddr(t *testing.T) {
	t.Setenv(testenv.RedisAddrEnv, "")
	if got := testenv.RedisAddr(); got != testenv.DefaultRedisAddr {
		t.Errorf("RedisAddr() = %q, want %q", got, testenv.DefaultRedisAddr)
	}
	t.Setenv(testenv.RedisAddrEnv, "127.0.0.1:1")
	if got := testenv.RedisAddr(); got != "127.0.0.1:1" {
		t.Errorf("RedisAddr() = %q with %s set", got, testenv.RedisAddrEnv)
	}
}
