// Command heraldctl is Herald's command-line client: it mints development
// tokens, sends notifications over gRPC, tails a user's SSE stream and
// creates service API keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr and maps it to the process exit code. A
// command-line mistake gets one line and a pointer to the help, as git and
// kubectl do, rather than the whole usage around the one line that matters.
func exitCode(err error, stderr io.Writer) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, "heraldctl:", err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", strings.TrimSpace("heraldctl "+usage.cmd))
		return exitUsage
	default:
		fmt.Fprintln(stderr, "heraldctl:", err)
		return exitError
	}
}

// usageError is a mistake in the command line, as opposed to a failure while
// carrying it out; it exits with status 2. cmd is the subcommand whose help
// the hint points to, empty for heraldctl's own.
type usageError struct{ msg, cmd string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }
