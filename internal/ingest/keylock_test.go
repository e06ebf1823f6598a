package ingest

import (
	"context"
	"errors"
	"testing"
)

func TestKeyLocks(t *testing.T) {
	t.Parallel()
	var k keyLocks
	ctx := context.Background()
	unlockA, err := k.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	unlockB, err := k.lock(ctx, "b")
	if err != nil {
		t.Fatalf("another key waited: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.lock(cancelled, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("locking a held key with a cancelled context: err = %v", err)
	}
	got := make(chan struct{})
	go func() {
		defer close(got)
		unlock, err := k.lock(ctx, "a")
		if err != nil {
			t.Error(err)
			return
		}
		unlock()
	}()
	unlockA()
	<-got
	unlockB()
	if len(k.m) != 0 {
		t.Errorf("%d keys left after every unlock", len(k.m))
	}
}
