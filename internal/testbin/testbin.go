// Package testbin gives end-to-end tests the herald binaries they run as
// child processes, built once per test run.
//
// `make test` runs `make build` first and names its output directory in
// HERALD_TEST_BIN_DIR, so no test builds anything and no test's time budget
// pays for a compile. Without the variable (a plain `go test ./cmd/...`), a
// test package builds the commands it needs once, on first use, into a
// temporary directory that Close removes.
//
// Either way the binaries are built as `make build` builds them:
// CGO_ENABLED=0, -trimpath, and without -race even under `go test -race`.
// The race detector watches the test process, and the packages herald is
// made of are race-tested by their own tests; the child is the binary that
// ships, and a race-built one would run several times slower, which the
// end-to-end tests' latency and throughput checks would then measure
// instead of herald.
package testbin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// EnvDir names a directory holding prebuilt binaries (what `make build`
// wrote). Whoever sets it answers for their being built from this tree.
const EnvDir = "HERALD_TEST_BIN_DIR"

// buildTimeout bounds a fallback build. A cold build of herald takes a few
// minutes on a busy two-core machine; no test's own budget includes it.
const buildTimeout = 15 * time.Minute

// module is the import path the commands live under, as cmd/<name>.
const module = "github.com/heraldhq/herald"

// Set is a set of commands, found in EnvDir or built at most once.
type Set struct {
	names []string

	once sync.Once
	dir  string
	tmp  string // the directory a fallback build made, removed by Close
	err  error
}

// New returns the set of the commands named (directories of cmd/, such as
// "herald" and "heraldctl"). Nothing is built until Path is called.
func New(names ...string) *Set {
	return &Set{names: names}
}

// Path returns the path of the named command. The first call finds the set
// in EnvDir or builds all of it; later calls, from any goroutine, reuse
// that.
func (s *Set) Path(name string) (string, error) {
	s.once.Do(s.prepare)
	if s.err != nil {
		return "", s.err
	}
	for _, n := range s.names {
		if n == name {
			return filepath.Join(s.dir, name), nil
		}
	}
	return "", fmt.Errorf("testbin: %q is not one of the commands %q", name, s.names)
}

// Close removes the binaries a fallback build wrote.
func (s *Set) Close() error {
	if s.tmp == "" {
		return nil
	}
	return os.RemoveAll(s.tmp)
}

func (s *Set) prepare() {
	if dir := os.Getenv(EnvDir); dir != "" {
		s.dir, s.err = s.find(dir)
		return
	}
	s.tmp, s.err = os.MkdirTemp("", "herald-testbin-")
	if s.err != nil {
		s.err = fmt.Errorf("testbin: %w", s.err)
		return
	}
	s.dir, s.err = s.tmp, s.build(s.tmp)
}

// find checks that dir holds every command of the set.
func (s *Set) find(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("testbin: %s=%s: %w", EnvDir, dir, err)
	}
	for _, name := range s.names {
		fi, err := os.Stat(filepath.Join(abs, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("testbin: %s=%s has no %s: run `make build`, or unset %s to build it here", EnvDir, dir, name, EnvDir)
		case err != nil:
			return "", fmt.Errorf("testbin: %w", err)
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			return "", fmt.Errorf("testbin: %s is not an executable file", filepath.Join(abs, name))
		}
	}
	return abs, nil
}

// build builds every command of the set into dir with one `go build`, so
// that the packages they share compile once.
func (s *Set) build(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := []string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}
	for _, name := range s.names {
		args = append(args, module+"/cmd/"+name)
	}
	// go test puts its own go first in PATH.
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testbin: go %v: %w\n%s", args, err, out)
	}
	fmt.Fprintf(os.Stderr, "testbin: built %v in %v (set %s to use prebuilt ones)\n", s.names, time.Since(start).Round(100*time.Millisecond), EnvDir)
	return nil
}
