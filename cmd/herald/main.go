// Command herald runs a Herald node: the gRPC and REST notify API, the SSE
// stream endpoint and the embedded inbox store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/version"
)

func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "herald:", err)
		if errors.Is(err, config.ErrUsage) {
			os.Exit(2) // a command-line mistake, as flag.ExitOnError does
		}
		os.Exit(1)
	}
}

func run() error {
	if versionRequested(os.Args[1:]) {
		_, err := fmt.Println(version.String("herald"))
		return err
	}
	cfg, err := config.Load(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	setGCPercent(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// versionRequested reports whether args ask for --version (or -version). It
// is read before the configuration, so that it answers even where the
// environment holds a configuration the server would refuse. Like the flag
// package it stops at "--"; herald takes no positional arguments, so any
// other argument that is not a flag is the value of the flag before it.
func versionRequested(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case !strings.HasPrefix(a, "-"):
			continue // the value of the flag before it
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "version" {
			continue
		}
		if !hasValue {
			return true
		}
		on, err := strconv.ParseBool(value)
		return err == nil && on
	}
	return false
}

// defaultGCPercent is the collector's pace unless GOGC says otherwise. A
// node holding 10,000 streams and taking 5,000 notifications/s allocates
// far more per second than it keeps: at Go's 100 it collected every second
// or so, and each cycle's pauses and marking showed in the latency tail.
// The live heap is small (about 5 KB a stream), so the pace, not the
// memory, sets how often: 300 gives 6 cycles in a 20 s load run against 13
// at 150, and a p99 of 8.7 against 10.8 ms, for a peak RSS of 522 against
// 372 MB (BENCHMARKS.md).
const defaultGCPercent = 300

// setGCPercent applies defaultGCPercent unless the operator set GOGC.
func setGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
