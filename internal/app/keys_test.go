package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logbuf"
)

func keyLine(name, key string) string {
	return "name=" + name + " hash=" + auth.HashAPIKey(key) + "\n"
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as an editor or a config tool does, so that the
	// loader never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeyLoaderReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	// The file is a symlink into a versioned directory, as in a Kubernetes
	// secret volume.
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	for _, d := range []string{v1, v2} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(v1, "keys"), "# first\n"+keyLine("billing", "hk_old"))
	file := filepath.Join(dir, "keys")
	if err := os.Symlink(filepath.Join(v1, "keys"), file); err != nil {
		t.Fatal(err)
	}
	var logs logbuf.Buffer
	cfg := config.Config{APIKeys: []string{"inline=" + auth.HashAPIKey("hk_inline")}, APIKeysFile: file}
	l, err := newKeyLoader(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l.every = 10 * time.Millisecond
	found := func(key string) bool { _, ok := l.ring.Find(key); return ok }
	if !found("hk_old") || !found("hk_inline") {
		t.Fatal("keys of the start not in force")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.watch(ctx)() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	// Rotation: the new key is added, then the old one removed.
	writeFile(t, file, keyLine("billing", "hk_old")+keyLine("billing", "hk_new"))
	eventually(t, "the new key", func() bool { return found("hk_new") })
	writeFile(t, file, keyLine("billing", "hk_new"))
	eventually(t, "the old key to go", func() bool { return !found("hk_old") })
	if !found("hk_new") || !found("hk_inline") {
		t.Fatal("rotation lost a key")
	}

	// A bad file keeps the keys in force and is logged once.
	writeFile(t, file, keyLine("billing", "hk_bad")+"name=x hash=sha256:nothex\n")
	eventually(t, "the error log", func() bool { return strings.Contains(logs.String(), "API keys not reloaded") })
	if found("hk_bad") || !found("hk_new") {
		t.Fatal("a bad file changed the keys")
	}
	if !strings.Contains(logs.String(), "line 2") {
		t.Errorf("error log does not name the line:\n%s", logs.String())
	}
	// SIGHUP reads it again and logs it again.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the SIGHUP reload", func() bool { return strings.Contains(logs.String(), "trigger=sighup") })
	if found("hk_bad") || !found("hk_new") {
		t.Fatal("SIGHUP with a bad file changed the keys")
	}

	// The symlink swapped to another directory.
	writeFile(t, filepath.Join(v2, "keys"), keyLine("billing", "hk_v2"))
	tmpLink := filepath.Join(dir, "keys.new")
	if err := os.Symlink(filepath.Join(v2, "keys"), tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, file); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the key of the swapped symlink", func() bool { return found("hk_v2") })
	if found("hk_new") || !found("hk_inline") {
		t.Error("after the swap: the old file's key stays or the inline key went")
	}

	// A file gone for a while keeps the keys.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing file log", func() bool { return strings.Contains(logs.String(), "no such file") })
	if !found("hk_v2") {
		t.Error("a missing file dropped the keys")
	}
}

func TestKeyLoaderStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, keyLine("a", "k")+"name=b hash="+auth.HashAPIKey("k2")+" methods=Nope\n")
	if _, err := newKeyLoader(config.Config{APIKeysFile: bad}, log); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad file at start: err = %v, want it to name line 2", err)
	}
	if _, err := newKeyLoader(config.Config{APIKeysFile: filepath.Join(dir, "missing")}, log); err == nil {
		t.Error("missing file at start: no error")
	}
	dup := filepath.Join(dir, "dup")
	writeFile(t, dup, keyLine("a", "k"))
	if _, err := newKeyLoader(config.Config{APIKeys: []string{"b=" + auth.HashAPIKey("k")}, APIKeysFile: dup}, log); err == nil || !strings.Contains(err.Error(), "already listed") {
		t.Errorf("hash inline and in the file: err = %v", err)
	}
	l, err := newKeyLoader(config.Config{APIKeys: []string{"a=" + auth.HashAPIKey("k")}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := l.ring.Find("k"); !ok || k.Name != "a" {
		t.Errorf("inline key only: Find = %v, %v", k, ok)
	}
}
