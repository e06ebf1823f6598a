package main

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// bitset is a growable set of sequence numbers.
type bitset []uint64

// set adds i and reports whether it was there already.
func (b *bitset) set(i uint64) (had bool) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	m := uint64(1) << (i % 64)
	had = (*b)[w]&m != 0
	(*b)[w] |= m
	return had
}

// missing counts the members of want that b lacks.
func (b bitset) missing(want bitset) int {
	n := 0
	for w, x := range want {
		if w < len(b) {
			x &^= b[w]
		}
		n += bits.OnesCount64(x)
	}
	return n
}

// target is where notifications go: one user in per-user mode, the topic in
// topic mode, the channel in channel mode. Sequence numbers are per target, so that a stream's record of
// what it received stays a small dense bitset.
type target struct {
	next  atomic.Uint64
	mu    sync.Mutex
	acked bitset // sequence numbers the server acknowledged
}

func (t *target) ack(seq uint64) {
	t.mu.Lock()
	t.acked.set(seq)
	t.mu.Unlock()
}
