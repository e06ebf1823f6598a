// Command herald-bench is Herald's load generator. It opens many SSE
// streams against a running herald, sends notifications over gRPC, and
// reports connect rate, acknowledged notifications/s, deliveries/s,
// end-to-end latency, lost and duplicated events, and the server's own
// memory and CPU per stream and per delivery. With --calibrate it measures
// a bare net/http SSE server of its own with the same load in the same run,
// so that herald's figures can be given as ratios. See BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errFailed):
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(2)
	}
}

// run is the whole command: `serve-bare` runs the calibration server on its
// own; anything else is a load run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(args) > 0 && args[0] == "serve-bare" {
		fs := flag.NewFlagSet("serve-bare", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		grpcAddr := fs.String("grpc-addr", "", "also take herald's NotifyService and Subscribe calls on this address (empty: off)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return serveBare(ctx, *addr, *grpcAddr, stdout, log)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	raiseNoFile(log)
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var runs [][]*result
	for i := range cfg.Runs {
		if cfg.Runs > 1 {
			log.Info("run", "run", i+1, "of", cfg.Runs)
		}
		results, err := runAll(ctx, cfg, log)
		if err != nil {
			return err
		}
		runs = append(runs, results)
	}
	if err := report(stdout, cfg, runs); err != nil {
		return err
	}
	for _, results := range runs {
		for _, r := range results {
			if msg := r.failed(); msg != "" {
				return fmt.Errorf("%w: %s", errFailed, msg)
			}
		}
	}
	return nil
}

// raiseNoFile lifts the open-files limit to its hard limit: every stream is
// a socket. Child servers inherit it.
func raiseNoFile(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open-files limit", "error", err)
		}
	}
}
