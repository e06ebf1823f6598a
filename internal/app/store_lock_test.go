package app

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// A data directory held by another herald is named as such, with the fix.
func TestOpenStoreLockedDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	held, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })

	a := &App{reg: prometheus.NewRegistry()}
	_, closers, err := a.openStore(config.Config{DataDir: dir, Store: config.StoreEmbedded}, slog.New(slog.DiscardHandler))
	for _, c := range closers {
		_ = c()
	}
	want := "another herald process holds the data directory " + dir + " (lock " + filepath.Join(dir, "LOCK") + "): stop it or pass a different --data-dir (HERALD_DATA_DIR)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant %s", err, want)
	}
	if !errors.Is(err, embedded.ErrLocked) {
		t.Errorf("error %v lost ErrLocked", err)
	}
}
