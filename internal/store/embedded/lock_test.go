package embedded_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/heraldhq/herald/internal/store/embedded"
)

// A directory another process has open is refused with ErrLocked. The other
// process is stood in for by an open-file-description lock on LOCK, which
// conflicts with Pebble's process-wide fcntl lock even inside this process,
// and so gives the errno a second herald gets.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Skipf("no OFD locks here: %v", err)
	}
	_, err = embedded.Open(dir, embedded.Options{})
	if !errors.Is(err, embedded.ErrLocked) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Open of a locked directory: %v, want ErrLocked wrapping EAGAIN", err)
	}
	if want := "lock " + filepath.Join(dir, "LOCK"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
}

// A second Store on the same directory in one process is refused alike.
func TestOpenLockedInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openT(t, dir, embedded.Options{})
	if _, err := embedded.Open(dir, embedded.Options{}); !errors.Is(err, embedded.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

// Other failures are not mistaken for the lock.
func TestOpenUnwritableIsNotLocked(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := embedded.Open(filepath.Join(file, "sub"), embedded.Options{})
	if err == nil || errors.Is(err, embedded.ErrLocked) {
		t.Fatalf("Open under a file: %v, want an error other than ErrLocked", err)
	}
}
