package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // substring of the error
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"token", "--nope"}, "not defined"},
		{"positional argument", []string{"token", "--user", "alice", "extra"}, "unexpected argument"},
		{"token without user", []string{"token"}, "--user is required"},
		{"token bad ttl", []string{"token", "--user", "alice", "--ttl", "soon"}, "invalid value"},
		{"token zero ttl", []string{"token", "--user", "alice", "--ttl", "0"}, "--ttl 0s: must be positive"},
		{"token bad user", []string{"token", "--user", "al\tice"}, "--user"},
		{"token short secret", []string{"token", "--user", "alice", "--secret", "short"}, "--secret is 5 bytes, need at least 32"},
		{"tail zero ttl", []string{"tail", "--user", "alice", "--ttl", "-1m"}, "--ttl"},
		{"help of unknown command", []string{"help", "frobnicate"}, "unknown command"},
		{"help of two commands", []string{"help", "token", "notify"}, "want one command"},
		{"version with argument", []string{"version", "now"}, "unexpected argument"},
		{"apikey bad format", []string{"apikey", "--format", "json"}, "--format"},
		{"notify without audience", []string{"notify", "--title", "Hi"}, "--user, --topic or --channel is required"},
		{"notify without title", []string{"notify", "--user", "alice"}, "--title is required"},
		{"notify only commas", []string{"notify", "--user", " , ", "--title", "Hi"}, "--user, --topic or --channel is required"},
		{"notify data not object", []string{"notify", "--user", "alice", "--title", "Hi", "--data", "[1]"}, "--data must be a JSON object"},
		{"notify bad priority", []string{"notify", "--user", "alice", "--title", "Hi", "--priority", "urgent"}, "--priority"},
		{"notify unspecified priority", []string{"notify", "--user", "alice", "--title", "Hi", "--priority", "unspecified"}, "--priority"},
		{"notify zero timeout", []string{"notify", "--user", "alice", "--title", "Hi", "--timeout", "0s"}, "--timeout"},
		{"tail without user", []string{"tail"}, "--user is required"},
		{"tail bad channel", []string{"tail", "--user", "alice", "--channels", "rooms/a b"}, "--channels"},
		{"tail channel pattern", []string{"tail", "--user", "alice", "--channels", "rooms/*"}, "--channels"},
		{"token bad channel pattern", []string{"token", "--user", "alice", "--channels", "rooms/["}, "--channels"},
		{"notify only comma channels", []string{"notify", "--channel", ",", "--title", "Hi"}, "--user, --topic or --channel is required"},
		{"tail bad server", []string{"tail", "--user", "alice", "--server", "localhost:8080"}, "--server"},
		{"apikey bad name", []string{"apikey", "--name", "has space"}, "--name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := mapEnv("HERALD_JWT_SECRET", strings.Repeat("s", 32))
			err := runEnv(context.Background(), tt.args, env, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) error = %v, want it to contain %q", tt.args, err, tt.want)
			}
			if got := exitCode(err, &stderr); got != exitUsage {
				t.Errorf("exit code = %d, want %d", got, exitUsage)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			// One line and a pointer to the help, not the whole usage
			// (which only a bare "heraldctl" prints, on stderr).
			if len(tt.args) == 0 {
				return
			}
			if lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n"); len(lines) != 2 ||
				!strings.HasPrefix(lines[0], "heraldctl: ") || !strings.HasPrefix(lines[1], "Run 'heraldctl ") {
				t.Errorf("stderr =\n%s\nwant the error and a hint, two lines", stderr.String())
			}
		})
	}
}

func TestRunUsesProcessEnvironment(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), nil, &stdout, &stderr)
	if got := exitCode(err, io.Discard); got != exitUsage {
		t.Errorf("run() exit code = %d, want %d (err %v)", got, exitUsage, err)
	}
	if !strings.Contains(stderr.String(), "Usage: heraldctl") {
		t.Errorf("stderr = %q, want the usage", stderr.String())
	}
}

// TestHelp checks that help, asked for in any of the usual ways, goes to
// stdout and exits 0, as git's and kubectl's do.
func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"help"}, "Commands:"},
		{[]string{"--help"}, "Commands:"},
		{[]string{"-h"}, "HERALD_GRPC_SERVER"},
		{[]string{"token", "--help"}, "-secret"},
		{[]string{"notify", "-h"}, "-idempotency-key"},
		{[]string{"tail", "--help"}, "-last-event-id"},
		{[]string{"apikey", "--help"}, "--format env"},
		{[]string{"subscribe", "--help"}, "SubscriptionService/Subscribe"},
		{[]string{"help", "notify"}, "Usage: heraldctl notify"},
		{[]string{"help", "--help"}, "Commands:"},
		{[]string{"help", "topics"}, "Usage: heraldctl topics"},
		{[]string{"help", "version"}, "Usage: heraldctl version"},
		{[]string{"token", "--user", "alice", "--help"}, "Usage: heraldctl token"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := runEnv(context.Background(), tt.args, noEnv, &stdout, &stderr)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run(%q) = %v, want nil or flag.ErrHelp", tt.args, err)
			}
			if got := exitCode(err, &stderr); got != exitOK {
				t.Errorf("exit code = %d, want %d", got, exitOK)
			}
			if !strings.Contains(stdout.String(), tt.want) {
				t.Errorf("stdout does not contain %q:\n%s", tt.want, stdout.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var stdout, stderr bytes.Buffer
		err := runEnv(context.Background(), args, noEnv, &stdout, &stderr)
		if got := exitCode(err, &stderr); got != exitOK {
			t.Errorf("%q: exit code %d (stderr %q), want 0", args, got, stderr.String())
		}
		if out := stdout.String(); !strings.HasPrefix(out, "heraldctl ") || !strings.Contains(out, " go1.") || strings.Count(out, "\n") != 1 {
			t.Errorf("%q: stdout = %q, want one line with the name and the Go version", args, out)
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{flag.ErrHelp, exitOK},
		{usagef("bad"), exitUsage},
		{&usageError{msg: "notify: bad", cmd: "notify"}, exitUsage},
		{errors.New("boom"), exitError},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if got := exitCode(tt.err, &stderr); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if tt.want != exitOK && !strings.Contains(stderr.String(), tt.err.Error()) {
			t.Errorf("exitCode(%v) wrote %q, want the error", tt.err, stderr.String())
		}
	}
}

// TestHelpHidesAPIKey checks that --help never prints the API key taken
// from the environment, while the key still reaches the flag.
func TestHelpHidesAPIKey(t *testing.T) {
	t.Parallel()
	const key = "hk_secret_from_the_environment"
	getenv := func(name string) string {
		if name == "HERALD_API_KEY" {
			return key
		}
		return ""
	}
	for _, cmd := range []string{"notify", "subscribe", "topics"} {
		var stdout, stderr bytes.Buffer
		_ = runEnv(context.Background(), []string{cmd, "--help"}, getenv, &stdout, &stderr)
		if strings.Contains(stdout.String()+stderr.String(), key) {
			t.Errorf("%s --help printed the API key", cmd)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	p := secretFlag(fs, getenv, "api-key", "HERALD_API_KEY", "key")
	if *p != key {
		t.Errorf("default from the environment = %q, want %q", *p, key)
	}
	if err := fs.Parse([]string{"--api-key", "other"}); err != nil || *p != "other" {
		t.Errorf("after --api-key other: %q, %v", *p, err)
	}
}
