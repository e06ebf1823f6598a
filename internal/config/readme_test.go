package config_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/config"
)

// TestREADMEListsEveryFlag: the README's configuration table has a row for
// each flag of --help, with its environment variable, and none for a flag
// that does not exist.
func TestREADMEListsEveryFlag(t *testing.T) {
	t.Parallel()
	var help bytes.Buffer
	if _, err := config.LoadTo(&help, []string{"--help"}, env()); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		flags = append(flags, m[1])
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag → its row's environment variable
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| `([A-Z0-9_]+)` \\|").FindAllSubmatch(readme, -1) {
		rows[string(m[1])] = string(m[2])
	}
	if len(flags) < 50 || len(rows) < 50 {
		t.Fatalf("found %d flags in --help and %d rows in README.md: is the pattern stale?", len(flags), len(rows))
	}
	for _, f := range flags {
		envVar, ok := rows[f]
		switch {
		case !ok:
			t.Errorf("--%s is in --help but has no row in README.md's configuration table", f)
		case envVar != config.EnvName(f):
			t.Errorf("README.md's row of --%s names %s, want %s", f, envVar, config.EnvName(f))
		}
	}
	for f := range rows {
		if !slices.Contains(flags, f) {
			t.Errorf("README.md has a row for --%s, which --help does not list", f)
		}
	}
}
