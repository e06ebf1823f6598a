package embedded

import (
	"encoding/binary"
	"fmt"
	"github.com/cockroachdb/pebble/v2"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// probeEvery bounds how often Ready writes its probe: health checks may come
// from several prober replicas, and one fsync a second is enough to notice a
// disk that stopped taking writes.
const probeEvery = time.Second

// kindProbe is the key kind of the readiness probe's one record.
const kindProbe = 'r'

var probeKey = []byte{kindProbe}

// probeState is the time of the last successful probe; the Ready calls
// within probeEvery of it share its result. A failed probe is not kept: it
// sets the broken flag, which Ready reports first.
type probeState struct {
	mu sync.Mutex
	ok time.Time
}

// probeWrite commits a small synced write, unless one succeeded within
// probeEvery. A failure breaks the database like a failed Append does, so
// the writer reopens it.
func (s *Store) probeWrite() error {
	p := &s.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.ok.IsZero() && now.Sub(p.ok) < probeEvery {
		return nil
	}
	if err := s.commitProbe(now); err != nil {
		return err
	}
	p.ok = now
	return nil
}

func (s *Store) commitProbe(now time.Time) error {
	release, err := s.hold()
	if err != nil {
		return fmt.Errorf("store: probe: %w", err)
	}
	defer release()
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Set(probeKey, binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())), nil); err != nil {
		return fmt.Errorf("store: probe: %w", err)
	}
	if !s.commitMu.TryLock() {
		// A commit is in flight: it reports a fault itself, and Ready must
		// not wait behind it (a stalled disk would hang health checks).
		return nil
	}
	defer s.commitMu.Unlock()
	if err := s.commitLocked(b, pebble.Sync); err != nil {
		return fmt.Errorf("store: probe: %w: %w", notify.ErrUnavailable, err)
	}
	return nil
}
