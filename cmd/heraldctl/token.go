package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/notify"
)

// tokenFlags are the flags that mint a user token; tail shares them.
type tokenFlags struct {
	user     string
	secret   string
	ttl      time.Duration
	audience string
	issuer   string
	// channels is the token's channels claim, patterns of the channels
	// its bearer may listen to; nil for none.
	channels []string
	// devSecret is set by resolve when no secret was given and tokens are
	// signed with config.DevJWTSecret.
	devSecret bool
}

// devSecretNote is printed whenever a token is signed with the public
// development secret: a production server refuses such tokens with a 401
// that cannot say why, so the reason is given here.
const devSecretNote = "heraldctl: no --secret or HERALD_JWT_SECRET: signing with the development secret, which only a --dev server accepts"

// register adds the token flags to fs. The defaults come from the server's
// own environment variables, so that a shell configured for the server mints
// tokens it accepts.
func (t *tokenFlags) register(fs *flag.FlagSet, getenv env) {
	fs.StringVar(&t.user, "user", "", "user ID, the token's subject (required)")
	fs.StringVar(&t.secret, "secret", "", "HS256 secret, the server's --jwt-secret (default $HERALD_JWT_SECRET, else the public development secret)")
	fs.DurationVar(&t.ttl, "ttl", time.Hour, "how long the token is valid")
	fs.StringVar(&t.audience, "audience", getenv("HERALD_JWT_AUDIENCE"), "aud claim (default $HERALD_JWT_AUDIENCE)")
	fs.StringVar(&t.issuer, "issuer", getenv("HERALD_JWT_ISSUER"), "iss claim (default $HERALD_JWT_ISSUER)")
}

// resolve checks the parsed flags of cmd, so that a mistake is a usage error
// before anything is signed or sent, and settles the secret, saying on
// stderr when it is the development one.
func (t *tokenFlags) resolve(cmd string, getenv env, stderr io.Writer) error {
	if t.user == "" {
		return usagef("%s: --user is required", cmd)
	}
	if _, err := notify.ParseUserID(t.user); err != nil {
		return usagef("%s: --user: %v", cmd, err)
	}
	if t.ttl <= 0 {
		return usagef("%s: --ttl %v: must be positive", cmd, t.ttl)
	}
	if err := auth.ParseChannelPatterns(t.channels); err != nil {
		return usagef("%s: --channels: %v", cmd, err)
	}
	source := "--secret"
	switch {
	case t.secret != "":
	case getenv("HERALD_JWT_SECRET") != "":
		t.secret, source = getenv("HERALD_JWT_SECRET"), "HERALD_JWT_SECRET"
	default:
		t.secret, t.devSecret = config.DevJWTSecret, true
		fmt.Fprintln(stderr, devSecretNote)
	}
	if len(t.secret) < auth.MinHS256SecretLen {
		return usagef("%s: %s is %d bytes, need at least %d (the server's --jwt-secret)", cmd, source, len(t.secret), auth.MinHS256SecretLen)
	}
	return nil
}

// mint signs a token valid from now; resolve must have succeeded.
func (t *tokenFlags) mint(now time.Time) (string, error) {
	tok, err := auth.Token{User: t.user, TTL: t.ttl, Audience: t.audience, Issuer: t.issuer, Channels: t.channels}.SignHS256([]byte(t.secret), now)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return tok, nil
}

func runToken(_ context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", "Prints a user JWT signed with HS256, as the server's --jwt-secret checks it.\nWith --channels it carries a channels claim: the live channels its bearer may\nlisten to beyond the server's --public-channels.", stdout)
	var t tokenFlags
	t.register(fs, getenv)
	fs.Var((*listFlag)(&t.channels), "channels", "channels claim: comma-separated path.Match patterns such as 'rooms/*,scores/match-42' (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := t.resolve("token", getenv, stderr); err != nil {
		return err
	}
	tok, err := t.mint(time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
