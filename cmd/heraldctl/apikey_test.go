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
	} {
		stdout.Reset()
		err := runEnv(context.Background(), bad, noEnv, &stdout, &stderr)
		if got := exitCode(err, &stderr); got != exitUsage || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q; want a usage error and no key", bad, got, stdout.String())
		}
	}
}
