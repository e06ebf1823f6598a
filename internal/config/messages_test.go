package config_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// A duration without a unit names the fix, from the environment and from a
// flag alike.
func TestDurationErrorsNameTheFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"env without unit", []string{"--dev"}, env("HERALD_HEARTBEAT", "15"),
			`config: HERALD_HEARTBEAT="15": a duration needs a unit, e.g. 15s (units: ns, us, ms, s, m, h)`},
		{"flag without unit", []string{"--dev", "--heartbeat=15"}, env(),
			`config: invalid value "15" for flag -heartbeat: a duration needs a unit, e.g. 15s (units: ns, us, ms, s, m, h)`},
		{"fraction without unit", []string{"--dev"}, env("HERALD_RETRY", "1.5"),
			`config: HERALD_RETRY="1.5": a duration needs a unit, e.g. 1.5s`},
		{"not a duration", []string{"--dev", "--shutdown-timeout", "soon"}, env(),
			`config: invalid value "soon" for flag -shutdown-timeout: not a duration; write a number and a unit, e.g. 90s or 1h30m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.LoadTo(&bytes.Buffer{}, tt.args, tt.env)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "parse error") {
				t.Errorf("error %q still says only parse error", err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"0": 0, "15s": 15 * time.Second, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond} {
		if got, err := config.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// --help still names the value type of duration flags, as the README's
// table and the flag package's own output do.
func TestHelpNamesDurations(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if _, err := config.LoadTo(&out, []string{"--help"}, env()); err == nil {
		t.Fatal("--help: want flag.ErrHelp")
	}
	help := out.String()
	for _, want := range []string{"  -heartbeat duration\n", "(default 15s)", "  -jwt-leeway duration\n", "  -http-addr string\n"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "-retry value") {
		t.Errorf("--help calls a duration flag's type \"value\":\n%s", help)
	}
	if !strings.Contains(help, "notifications per second each service (API key name) may send: per node, or across all nodes with --store=redis") {
		t.Errorf("--notify-rate's help does not say the limit is per service:\n%s", help)
	}
}

// A --redis-url set on purpose is checked even with the embedded store,
// so that a typo does not wait for the day --store=redis is added.
func TestRedisURLCheckedWhenSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string
	}{
		{"default url, embedded", []string{"--dev"}, env(), ""},
		{"good url, embedded", []string{"--dev", "--redis-url=redis://10.0.0.5:6380/2"}, env(), ""},
		{"bad url flag, embedded", []string{"--dev", "--redis-url=http://x"}, env(),
			"--redis-url: redis: invalid URL scheme: http (it is set though --store is embedded; fix it, or unset it if Redis is not meant)"},
		{"bad url env, embedded", []string{"--dev"}, env("HERALD_REDIS_URL", "redis://:s3cret@host:1/notadb"), "--redis-url: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.LoadTo(&bytes.Buffer{}, tt.args, tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// A command line the flags cannot parse gets one line that points at
// --help, not the whole usage; --help prints the usage.
func TestParseErrorIsOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--dev", "--nope"}, {"--dev", "extra"}, {"--dev", "--http-addr"}} {
		var out bytes.Buffer
		_, err := config.LoadTo(&out, args, env())
		if !errors.Is(err, config.ErrUsage) {
			t.Errorf("%q: got %v, want ErrUsage", args, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasSuffix(msg, "run 'herald --help' for the flags") {
			t.Errorf("%q: got %q, want one line ending with the hint", args, msg)
		}
		if out.Len() != 0 {
			t.Errorf("%q: printed %d bytes of usage; want none", args, out.Len())
		}
	}
	var out bytes.Buffer
	if _, err := config.LoadTo(&out, []string{"--help"}, env()); !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(out.String(), "Usage: herald") {
		t.Errorf("--help: got %v and %q…", err, out.String()[:min(out.Len(), 40)])
	}
}
