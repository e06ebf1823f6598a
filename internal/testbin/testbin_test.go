package testbin_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testbin"
)

// The fallback build is exercised by every `go test ./cmd/...` without
// HERALD_TEST_BIN_DIR; these cover the prebuilt directory and the errors.

func TestPrebuiltDir(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"herald": 0o755, "heraldctl": 0o755, "notexec": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testbin.EnvDir, dir)

	for _, tc := range []struct {
		names   []string
		ask     string
		want    string // the path, or a part of the error
		wantErr bool
	}{
		{[]string{"herald", "heraldctl"}, "heraldctl", filepath.Join(dir, "heraldctl"), false},
		{[]string{"herald"}, "heraldctl", `"heraldctl" is not one of the commands`, true},
		{[]string{"herald", "herald-bench"}, "herald", "has no herald-bench: run `make build`, or unset HERALD_TEST_BIN_DIR", true},
		{[]string{"notexec"}, "notexec", "is not an executable file", true},
		{[]string{"adir"}, "adir", "is not an executable file", true},
	} {
		s := testbin.New(tc.names...)
		got, err := s.Path(tc.ask)
		switch {
		case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("New(%q).Path(%q) error = %v, want one containing %q", tc.names, tc.ask, err, tc.want)
		case !tc.wantErr && (err != nil || got != tc.want):
			t.Errorf("New(%q).Path(%q) = %q, %v; want %q", tc.names, tc.ask, got, err, tc.want)
		}
		// Close leaves a prebuilt directory alone.
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "herald")); err != nil {
		t.Errorf("after Close: %v, want the prebuilt binary kept", err)
	}
}

// A relative directory is made absolute, so that a test that changes its
// working directory or passes the path to a child still finds the binary.
func TestPrebuiltDirRelative(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "herald"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(dir))
	t.Setenv(testbin.EnvDir, filepath.Base(dir))
	got, err := testbin.New("herald").Path("herald")
	if err != nil || got != filepath.Join(dir, "herald") {
		t.Errorf("Path = %q, %v; want %q", got, err, filepath.Join(dir, "herald"))
	}
}
