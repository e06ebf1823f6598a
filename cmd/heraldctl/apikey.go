package main

import (
	"context"
	"fmt"
	"io"

	"github.com/heraldhq/herald/internal/auth"
)

func runAPIKey(_ context.Context, args []string, _ env, stdout, stderr io.Writer) error {
	fs := newFlagSet("apikey", "Prints a new random service API key and the spec to give the server in --api-keys\n(HERALD_API_KEYS). The server stores only the hash; keep the key secret.", stderr)
	name := fs.String("name", "", "service name recorded with the key (letters, digits, '-', '_', '.')")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	key, err := auth.NewAPIKey()
	if err != nil {
		return fmt.Errorf("apikey: %w", err)
	}
	spec := auth.HashAPIKey(key)
	if *name != "" {
		spec = *name + "=" + spec
	}
	// Check the spec with the server's own parser, so a bad name fails here
	// and not at the server's start.
	if _, err := auth.ParseAPIKeys([]string{spec}); err != nil {
		return usagef("apikey: --name: %v", err)
	}
	_, err = fmt.Fprintf(stdout, "key:      %s\napi-keys: %s\n", key, spec)
	return err
}
