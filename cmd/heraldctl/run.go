package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usageText = `Usage: heraldctl <command> [flags]

Commands:
  token        mint a user JWT (HS256)
  notify       send a notification over gRPC
  tail         print a user's live SSE stream until interrupted
  apikey       create a service API key and the hash the server is given
  subscribe    subscribe users to topics
  unsubscribe  unsubscribe users from topics
  topics       list a user's topics
  subscribers  list a topic's subscribers

Run "heraldctl <command> --help" for a command's flags.
`

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
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		cmd, ok := lookup(name)
		if !ok {
			fmt.Fprint(stderr, usageText)
			return usagef("unknown command %q", name)
		}
		return cmd(ctx, args[1:], getenv, stdout, stderr)
	}
}

// newFlagSet returns a flag set for a subcommand that reports instead of
// exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("heraldctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: heraldctl %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and refuses positional arguments. Errors
// are usage errors, except --help, which is flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
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
