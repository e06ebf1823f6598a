package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
)

// keyPollInterval is how often the key file is read for changes. Reading
// the content, not watching the inode, also follows a Kubernetes secret
// volume, which swaps a symlink to a new directory.
const keyPollInterval = 2 * time.Second

// keyLoader keeps the service API keys in force: those of --api-keys and
// those of --api-keys-file, read at start, on SIGHUP and when the file's
// content changes. A file that fails to parse leaves the keys as they were.
type keyLoader struct {
	ring   *auth.KeyRing
	inline []auth.Key // from --api-keys; parsed once, they never change
	file   string
	dev    bool // no keys is then the expected state, not a problem
	every  time.Duration
	log    *slog.Logger

	loaded  []byte // content of the file whose keys are in force
	lastErr string // the last failure, so that polling logs it once
}

// newKeyLoader reads the keys; a bad file fails the start.
func newKeyLoader(cfg config.Config, log *slog.Logger) (*keyLoader, error) {
	inline, err := auth.ParseAPIKeySpecs(cfg.APIKeys)
	if err != nil {
		return nil, fmt.Errorf("app: api keys: %w", err)
	}
	l := &keyLoader{ring: auth.NewKeyRing(nil), inline: inline, file: cfg.APIKeysFile, dev: cfg.Dev, every: keyPollInterval, log: log.With("component", "apikeys")}
	var data []byte
	if l.file != "" {
		if data, err = os.ReadFile(l.file); err != nil {
			return nil, fmt.Errorf("app: api keys file: %w", err)
		}
	}
	keys, err := l.parse(data)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	l.swap(data, keys, "start")
	return l, nil
}

// parse joins the keys of the file's content with the inline ones.
func (l *keyLoader) parse(data []byte) (*auth.APIKeys, error) {
	where := "api keys"
	if l.file != "" {
		where = "api keys file " + l.file
	}
	fileKeys, err := auth.ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	keys, err := auth.NewAPIKeys(append(append([]auth.Key(nil), l.inline...), fileKeys...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return keys, nil
}

func (l *keyLoader) swap(data []byte, keys *auth.APIKeys, trigger string) {
	l.ring.Store(keys)
	l.loaded, l.lastErr = data, ""
	switch {
	case keys.Len() > 0:
		l.log.Info("API keys loaded", "trigger", trigger, "file", l.file, "keys", keys.Len(), "services", strings.Join(keys.Names(), ","))
	case l.dev:
		// What make run always prints: a notice, not a problem.
		l.log.Info("development mode without API keys: NotifyService and SubscriptionService take calls with or without a key, as service "+auth.DevService,
			"trigger", trigger, "file", l.file)
	default:
		// Only an empty --api-keys-file gets here; config refuses a
		// production start with no key source at all.
		l.log.Warn("no API keys in force: NotifyService and SubscriptionService refuse every call until the key file lists a key (create one with heraldctl apikey)",
			"trigger", trigger, "file", l.file)
	}
}

// reload reads the file again and puts its keys in force. Unless forced
// (SIGHUP), an unchanged file is not parsed again and a failure already
// logged is not logged again, so that polling stays quiet.
func (l *keyLoader) reload(force bool, trigger string) {
	data, err := os.ReadFile(l.file)
	var keys *auth.APIKeys
	if err == nil {
		if !force && bytes.Equal(data, l.loaded) {
			l.lastErr = ""
			return
		}
		keys, err = l.parse(data)
	}
	if err != nil {
		if force || err.Error() != l.lastErr {
			l.log.Error("API keys not reloaded; the previous keys stay in force", "trigger", trigger, "err", err)
		}
		l.lastErr = err.Error()
		return
	}
	l.swap(data, keys, trigger)
}

// watch returns the loop that reloads the keys on SIGHUP and on file
// changes until ctx ends. SIGHUP is caught before it returns, so that one
// sent once the server is up never meets the default action, which ends the
// process.
func (l *keyLoader) watch(ctx context.Context) func() error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return func() error {
		defer signal.Stop(hup)
		var tick <-chan time.Time
		if l.file != "" {
			t := time.NewTicker(l.every)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				if l.file == "" {
					l.log.Info("SIGHUP: no --api-keys-file to read; API keys unchanged")
					continue
				}
				l.reload(true, "sighup")
			case <-tick:
				l.reload(false, "change")
			}
		}
	}
}
