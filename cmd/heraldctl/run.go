package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/version"
)

const usageText = `Usage: heraldctl <command> [flags]

Commands:
  token        mint a user JWT (HS256)
  notify       send a notification over gRPC
  tail         print a user's live SSE stream, and any channels, until interrupted
  apikey       create a service API key and the hash the server is given
  subscribe    subscribe users to topics
  unsubscribe  unsubscribe users from topics
  topics       list a user's topics
  subscribers  list a topic's subscribers
  version      print heraldctl's version and build

Run "heraldctl help <command>" or "heraldctl <command> --help" for a command's flags.

Environment:
  HERALD_GRPC_SERVER  gRPC address for notify and the subscription commands (default localhost:9090)
  HERALD_HTTP_SERVER  HTTP base URL for tail (default http://localhost:8080)
  HERALD_API_KEY      service API key of notify and the subscription commands
  HERALD_JWT_SECRET   HS256 secret of token and tail (else the public development secret)
  HERALD_JWT_AUDIENCE, HERALD_JWT_ISSUER  aud and iss claims of token and tail
`

// The servers the commands talk to unless --server, HERALD_GRPC_SERVER or
// HERALD_HTTP_SERVER says otherwise: those of a local `make run`.
const (
	defaultGRPCServer = "localhost:9090"
	defaultHTTPServer = "http://localhost:8080"
)

// env is what commands read from the environment; tests pass a map.
type env func(string) string

// command runs one subcommand with the arguments after its name.
type command func(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error

func lookup(name string) (command, bool) {
	switch name {
	case "token":
		return runToken, true
	case "notify":
		return runNotify, true
	case "tail":
		return runTail, true
	case "apikey":
		return runAPIKey, true
	case "subscribe":
		return runSubscribe, true
	case "unsubscribe":
		return runUnsubscribe, true
	case "topics":
		return runTopics, true
	case "subscribers":
		return runSubscribers, true
	case "version":
		return runVersion, true
	}
	return nil, false
}

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEnv(ctx, args, os.Getenv, stdout, stderr)
}

func runEnv(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usagef("missing command")
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		_, err := fmt.Fprint(stdout, usageText)
		return err
	case "-version", "--version":
		name = "version"
	case "help":
		// "heraldctl help notify" is "heraldctl notify --help".
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			_, err := fmt.Fprint(stdout, usageText)
			return err
		}
		if len(args) > 2 {
			return usagef("help: want one command, got %q", args[1:])
		}
		name, args = args[1], []string{name, "--help"}
	}
	cmd, ok := lookup(name)
	if !ok {
		return usagef("unknown command %q", name)
	}
	err := cmd(ctx, args[1:], getenv, stdout, stderr)
	if u := (*usageError)(nil); errors.As(err, &u) && u.cmd == "" {
		u.cmd = name
	}
	return err
}

// newFlagSet returns a flag set for a subcommand that returns its errors
// instead of printing them with the usage, and whose --help goes to stdout
// (so that it can be paged or grepped, as with git and kubectl).
func newFlagSet(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: heraldctl %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args into fs and refuses positional arguments. Errors
// are usage errors, except --help, which prints the command's help and is
// flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	help := fs.Usage
	fs.Usage = func() {} // the flag package calls it on every error too
	err := fs.Parse(args)
	fs.Usage = help
	switch {
	case errors.Is(err, flag.ErrHelp):
		help()
		return err
	case err != nil:
		return usagef("%s: %v", fs.Name(), err)
	case fs.NArg() > 0:
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// runVersion prints the version line of `heraldctl version` and
// `heraldctl --version`.
func runVersion(_ context.Context, args []string, _ env, stdout, _ io.Writer) error {
	fs := newFlagSet("version", "Prints heraldctl's version, VCS revision and Go version, from its build information.", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, version.String("heraldctl"))
	return err
}

// or returns the first non-empty string.
func or(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// secretFlag defines a string flag whose default comes from the environment
// variable env, and which --help never prints: the default of --api-key is
// a credential.
func secretFlag(fs *flag.FlagSet, getenv env, name, envName, usage string) *string {
	v := &unprinted{s: getenv(envName)}
	fs.Var(v, name, usage)
	return &v.s
}

// unprinted is a string flag.Value whose String is empty, so that the flag
// package shows no default for it.
type unprinted struct{ s string }

func (u *unprinted) Set(s string) error { u.s = s; return nil }
func (u *unprinted) String() string     { return "" }

// listFlag is a flag.Value that collects a list, comma-separated, repeated
// or both: --channel a,b --channel c is [a b c].
type listFlag []string

func (l *listFlag) Set(s string) error { *l = append(*l, config.SplitList(s)...); return nil }
func (l *listFlag) String() string     { return strings.Join(*l, ",") }
