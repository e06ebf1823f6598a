package ingest

import (
	"context"
	"sync"
)

// keyLocks serializes work per idempotency key within the process: a
// sender's retry that arrives while the first attempt is still storing its
// parts waits for it, instead of resuming from a point the first attempt is
// about to pass. Across processes the store's incomplete record is the
// only guard. The zero value is ready to use.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	token chan struct{} // holds a value while locked
	refs  int           // holders and waiters; the entry goes at zero
}

// lock waits for key's lock, or for ctx, and returns its release.
func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{token: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	select {
	case l.token <- struct{}{}:
		return func() {
			<-l.token
			k.drop(key, l)
		}, nil
	case <-ctx.Done():
		k.drop(key, l)
		return nil, ctx.Err()
	}
}

func (k *keyLocks) drop(key string, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
}
