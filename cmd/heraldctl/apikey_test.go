package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
)

// TestAPIKeyFileLine checks that the printed key-file line is one the
// server reads, with the scopes asked for, and that bad scopes fail here.
func TestAPIKeyFileLine(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"apikey", "--name", "billing", "--methods", "Notify,NotifyBatch", "--topics", "order:*,billing/*", "--rate", "500", "--burst", "1000"}
	if err := runEnv(context.Background(), args, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("apikey: %v", err)
	}
	var key, line string
	for l := range strings.Lines(stdout.String()) {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "key":
			key = strings.TrimSpace(v)
		case "key-file":
			line = strings.TrimSpace(v)
		case "api-keys":
			// --api-keys cannot carry scopes: a spec printed beside them
			// would grant every method and topic.
			t.Errorf("a scoped key printed an --api-keys spec: %q", l)
		}
	}
	keys, err := auth.ParseKeyFile([]byte(line))
	if err != nil {
		t.Fatalf("printed line %q does not parse: %v", line, err)
	}
	set, err := auth.NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := set.Find(key)
	if !ok || k.Name != "billing" || !slices.Equal(k.Methods, []string{"Notify", "NotifyBatch"}) ||
		!slices.Equal(k.Topics, []string{"order:*", "billing/*"}) || k.Limit == nil || *k.Limit != (auth.Limit{Rate: 500, Burst: 1000}) {
		t.Errorf("printed line %q gives %+v, %v", line, k, ok)
	}

	for _, bad := range [][]string{
		{"apikey", "--methods", "Stream"},
		{"apikey", "--topics", "a["},
		{"apikey", "--burst", "5"},
		{"apikey", "--topics", "a #b"},
		{"apikey", "--topics", "a'b", "--format", "env"},
	} {
		stdout.Reset()
		err := runEnv(context.Background(), bad, noEnv, &stdout, &stderr)
		if got := exitCode(err, &stderr); got != exitUsage || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q; want a usage error and no key", bad, got, stdout.String())
		}
	}
}

// TestAPIKeyEnvFormat checks that --format env prints lines a shell can
// eval into the variables heraldctl and the server read, and that a scoped
// key gets no HERALD_API_KEYS.
func TestAPIKeyEnvFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		wantServer  bool   // HERALD_API_KEYS exported
		wantComment string // in a comment line
	}{
		{"all scopes", []string{"--name", "billing"}, true, ""},
		{"scoped", []string{"--name", "billing", "--methods", "Notify", "--topics", "order:*"}, false, "methods=Notify topics=order:*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := runEnv(context.Background(), append([]string{"apikey", "--format", "env"}, tt.args...), noEnv, &stdout, &stderr); err != nil {
				t.Fatalf("apikey: %v", err)
			}
			vars := map[string]string{}
			var comments string
			for l := range strings.Lines(stdout.String()) {
				if c, ok := strings.CutPrefix(l, "#"); ok {
					comments += c
					continue
				}
				rest, ok := strings.CutPrefix(l, "export ")
				name, value, ok2 := strings.Cut(rest, "='")
				value, _, ok3 := strings.Cut(value, "'")
				if !ok || !ok2 || !ok3 {
					t.Fatalf("line %q is not export NAME='VALUE'", l)
				}
				vars[name] = value
			}
			key := vars["HERALD_API_KEY"]
			if !strings.HasPrefix(key, "hk_") {
				t.Fatalf("HERALD_API_KEY = %q, want a key", key)
			}
			spec, ok := vars["HERALD_API_KEYS"]
			if ok != tt.wantServer {
				t.Fatalf("HERALD_API_KEYS exported: %v, want %v (output %q)", ok, tt.wantServer, stdout.String())
			}
			if ok {
				keys, err := auth.ParseAPIKeys([]string{spec})
				if err != nil {
					t.Fatalf("HERALD_API_KEYS %q does not parse: %v", spec, err)
				}
				if name, ok := keys.Lookup(key); !ok || name != "billing" {
					t.Errorf("Lookup(HERALD_API_KEY) = %q, %v; want billing, true", name, ok)
				}
			}
			if !strings.Contains(comments, tt.wantComment) {
				t.Errorf("comments %q lack %q", comments, tt.wantComment)
			}
		})
	}
}
