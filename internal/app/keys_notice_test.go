package app

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
)

// No keys is the expected state of make run (a notice at info) and a
// problem in production (a warning).
func TestKeyLoaderNoKeysNotice(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "keys")
	writeFile(t, empty, "# no keys yet\n")
	tests := []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"dev", config.Config{Dev: true},
			`level=INFO msg="development mode without API keys: NotifyService and SubscriptionService take calls with or without a key, as service dev"`},
		{"production, empty file", config.Config{APIKeysFile: empty},
			`level=WARN msg="no API keys in force: NotifyService and SubscriptionService refuse every call until the key file lists a key (create one with heraldctl apikey)"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			if _, err := newKeyLoader(tt.cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), tt.want) {
				t.Errorf("logs:\n%s\nwant %s", logs.String(), tt.want)
			}
			if tt.cfg.Dev && strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("dev mode without keys logs a warning:\n%s", logs.String())
			}
		})
	}
}
