package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
)

// tokenFlags are the flags that mint a user token; tail shares them.
type tokenFlags struct {
	user     string
	secret   string
	ttl      time.Duration
	audience string
	issuer   string
}

// register adds the token flags to fs. The defaults come from the server's
// own environment variables, so that a shell configured for the server mints
// tokens it accepts.
func (t *tokenFlags) register(fs *flag.FlagSet, getenv env) {
	fs.StringVar(&t.user, "user", "", "user ID, the token's subject (required)")
	fs.StringVar(&t.secret, "secret", "", "HS256 secret (default $HERALD_JWT_SECRET, else the public development secret)")
	fs.DurationVar(&t.ttl, "ttl", time.Hour, "how long the token is valid")
	fs.StringVar(&t.audience, "audience", getenv("HERALD_JWT_AUDIENCE"), "aud claim (default $HERALD_JWT_AUDIENCE)")
	fs.StringVar(&t.issuer, "issuer", getenv("HERALD_JWT_ISSUER"), "iss claim (default $HERALD_JWT_ISSUER)")
}

// mint signs a token valid from now.
func (t *tokenFlags) mint(getenv env, now time.Time) (string, error) {
	secret := or(t.secret, getenv("HERALD_JWT_SECRET"), config.DevJWTSecret)
	tok, err := auth.MintHS256([]byte(secret), t.user, t.ttl, t.audience, t.issuer, now)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return tok, nil
}

func runToken(_ context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", "Prints a user JWT signed with HS256, as the server's --jwt-secret checks it.", stderr)
	var t tokenFlags
	t.register(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if t.user == "" {
		return usagef("token: --user is required")
	}
	tok, err := t.mint(getenv, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
