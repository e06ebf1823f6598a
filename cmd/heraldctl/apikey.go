package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/heraldhq/herald/internal/auth"
)

const apikeySynopsis = `Prints a new random service API key and what the server is given instead of it,
the key's hash. The server stores only the hash; keep the key secret.

Without scopes it prints the spec for --api-keys (HERALD_API_KEYS) and a line for
--api-keys-file. With --methods, --topics, --rate or --burst it prints only the
--api-keys-file line: --api-keys would grant every method and topic at the
server's --notify-rate.

--format env prints shell lines instead, to keep the key in the environment:
  eval "$(heraldctl apikey --name billing --format env)"
sets HERALD_API_KEY (which notify and the subscription commands send) and, without
scopes, HERALD_API_KEYS (which the server reads).`

func runAPIKey(_ context.Context, args []string, _ env, stdout, _ io.Writer) error {
	fs := newFlagSet("apikey", apikeySynopsis, stdout)
	name := fs.String("name", "", "service name recorded with the key (letters, digits, '-', '_', '.'); default: the hash's first 8 hex digits")
	methods := fs.String("methods", "", "key file only: comma-separated methods the key may call (Notify, NotifyBatch, Subscribe, ...); default all")
	topics := fs.String("topics", "", "key file only: comma-separated topic patterns (path.Match, e.g. order:*,billing/*); default all")
	rate := fs.String("rate", "", "key file only: notifications per second (0: unlimited); default the server's --notify-rate")
	burst := fs.String("burst", "", "key file only: burst of --rate; default one second's worth")
	format := fs.String("format", "text", "output: text (labelled lines) or env (export lines for a shell's eval)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "text" && *format != "env" {
		return usagef("apikey: --format %q: want text or env", *format)
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
	scoped := false
	for _, f := range []struct{ field, value string }{{"methods", *methods}, {"topics", *topics}, {"rate", *rate}, {"burst", *burst}} {
		if f.value != "" {
			line += " " + f.field + "=" + f.value
			scoped = true
		}
	}
	// Check both with the server's own parsers, so a mistake fails here and
	// not at the server's start.
	if _, err := auth.ParseAPIKeys([]string{spec}); err != nil {
		return usagef("apikey: --name: %v", err)
	}
	if strings.ContainsAny(*methods+*topics+*rate+*burst, " \t#'") {
		return usagef("apikey: scopes may not contain spaces, quotes or '#'")
	}
	if _, err := auth.ParseKeyFile([]byte(line)); err != nil {
		return usagef("apikey: %v", strings.TrimPrefix(err.Error(), "auth: line 1: "))
	}
	_, err = io.WriteString(stdout, apikeyOutput(*format, key, spec, line, scoped))
	return err
}

// apikeyOutput lays out a new key. A scoped key gets no --api-keys spec: that
// flag has no room for scopes, and a spec printed beside them would grant
// what they withhold.
func apikeyOutput(format, key, spec, line string, scoped bool) string {
	var b strings.Builder
	if format == "env" {
		// The key, hash and name hold no shell metacharacters (base64url,
		// hex, and names checked above); the quotes are for the scopes.
		fmt.Fprintf(&b, "export HERALD_API_KEY='%s'  # the sending service's key: keep it secret\n", key)
		if scoped {
			fmt.Fprintf(&b, "# line for the server's --api-keys-file: %s\n", line)
		} else {
			fmt.Fprintf(&b, "export HERALD_API_KEYS='%s'  # for the server: its hash only\n", spec)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "key:      %s\n", key)
	if !scoped {
		fmt.Fprintf(&b, "api-keys: %s\n", spec)
	}
	fmt.Fprintf(&b, "key-file: %s\n", line)
	return b.String()
}
