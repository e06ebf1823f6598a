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
		{"notify without audience", []string{"notify", "--title", "Hi"}, "--user or --topic is required"},
		{"notify without title", []string{"notify", "--user", "alice"}, "--title is required"},
		{"notify only commas", []string{"notify", "--user", " , ", "--title", "Hi"}, "--user or --topic is required"},
		{"notify data not object", []string{"notify", "--user", "alice", "--title", "Hi", "--data", "[1]"}, "--data must be a JSON object"},
		{"notify bad priority", []string{"notify", "--user", "alice", "--title", "Hi", "--priority", "urgent"}, "--priority"},
		{"notify unspecified priority", []string{"notify", "--user", "alice", "--title", "Hi", "--priority", "unspecified"}, "--priority"},
		{"notify zero timeout", []string{"notify", "--user", "alice", "--title", "Hi", "--timeout", "0s"}, "--timeout"},
		{"tail without user", []string{"tail"}, "--user is required"},
		{"tail bad server", []string{"tail", "--user", "alice", "--server", "localhost:8080"}, "--server"},
		{"apikey bad name", []string{"apikey", "--name", "has space"}, "--name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := runEnv(context.Background(), tt.args, noEnv, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) error = %v, want it to contain %q", tt.args, err, tt.want)
			}
			if got := exitCode(err, io.Discard); got != exitUsage {
				t.Errorf("exit code = %d, want %d", got, exitUsage)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
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

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // in stdout or stderr
	}{
		{[]string{"help"}, "Commands:"},
		{[]string{"--help"}, "Commands:"},
		{[]string{"token", "--help"}, "-secret"},
		{[]string{"notify", "-h"}, "-idempotency-key"},
		{[]string{"tail", "--help"}, "-last-event-id"},
		{[]string{"apikey", "--help"}, "-name"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := runEnv(context.Background(), tt.args, noEnv, &out, &out)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run(%q) = %v, want nil or flag.ErrHelp", tt.args, err)
			}
			if got := exitCode(err, io.Discard); got != exitOK {
				t.Errorf("exit code = %d, want %d", got, exitOK)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output does not contain %q:\n%s", tt.want, out.String())
			}
		})
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
