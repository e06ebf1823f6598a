package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/heraldhq/herald/internal/auth"
)

func runAPIKey(_ context.Context, args []string, _ env, stdout, stderr io.Writer) error {
	fs := newFlagSet("apikey", "Prints a new random service API key, the spec to give the server in --api-keys\n(HERALD_API_KEYS) and a line for --api-keys-file, with the scopes given here.\nThe server stores only the hash; keep the key secret.", stderr)
	name := fs.String("name", "", "service name recorded with the key (letters, digits, '-', '_', '.'); default: the hash's first 8 hex digits")
	methods := fs.String("methods", "", "key file only: comma-separated methods the key may call (Notify, NotifyBatch, Subscribe, ...); default all")
	topics := fs.String("topics", "", "key file only: comma-separated topic patterns (path.Match, e.g. order:*,billing/*); default all")
	rate := fs.String("rate", "", "key file only: notifications per second (0: unlimited); default the server's --notify-rate")
	burst := fs.String("burst", "", "key file only: burst of --rate; default one second's worth")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	key, err := auth.NewAPIKey()
	if err != nil {
		return fmt.Errorf("apikey: %w", err)
	}
	hash := auth.HashAPIKey(key)
	spec, fileName := hash, *name
	if *name != "" {
		spec = *name + "=" + hash
	} else {
		fileName = hash[len("sha256:"):][:8]
	}
	line := "name=" + fileName + " hash=" + hash
	for _, f := range []struct{ field, value string }{{"methods", *methods}, {"topics", *topics}, {"rate", *rate}, {"burst", *burst}} {
		if f.value != "" {
			line += " " + f.field + "=" + f.value
		}
	}
	// Check both with the server's own parsers, so a mistake fails here and
	// not at the server's start.
	if _, err := auth.ParseAPIKeys([]string{spec}); err != nil {
		return usagef("apikey: --name: %v", err)
	}
	if strings.ContainsAny(*methods+*topics+*rate+*burst, " \t#") {
		return usagef("apikey: scopes may not contain spaces or '#'")
	}
	if _, err := auth.ParseKeyFile([]byte(line)); err != nil {
		return usagef("apikey: %v", strings.TrimPrefix(err.Error(), "auth: line 1: "))
	}
	_, err = fmt.Fprintf(stdout, "key:      %s\napi-keys: %s\nkey-file: %s\n", key, spec, line)
	return err
}
