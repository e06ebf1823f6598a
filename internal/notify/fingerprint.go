package notify

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// FingerprintSize is the length of a ContentFingerprint.
const FingerprintSize = 16

// ContentFingerprint returns 16 bytes that tell two notifications apart by
// what their sender chose: audience (users, topics and channels, as sets),
// type, title, body, data, category, priority and expiry; not the ID, the
// creation time nor the key, which the server assigns or which are the same
// by definition. A retry has the same fingerprint; a different notification
// under a reused key has another. Data is the compact JSON ingest writes,
// keys sorted, so the same object always gives the same bytes.
//
// Fingerprints are kept in idempotency records, so the encoding never
// changes for what it covered before: channels are appended only when
// there are some, and a notification without channels keeps the
// fingerprint it had before channels existed. Every field is length- or
// count-prefixed, so the trailing channel set cannot make two audiences
// collide.
func (n *Notification) ContentFingerprint() string {
	// One buffer hashed at once: this runs on every keyed Notify.
	size := 64 + len(n.Type) + len(n.Title) + len(n.Body) + len(n.Data) + len(n.Category)
	for _, u := range n.Users {
		size += len(u) + 2
	}
	for _, t := range n.Topics {
		size += len(t) + 2
	}
	for _, c := range n.Channels {
		size += len(c) + 2
	}
	b := make([]byte, 0, size)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(n.EventType())
	str(n.Title)
	str(n.Body)
	str(string(n.Data))
	str(n.Category)
	b = binary.AppendVarint(b, int64(n.Priority))
	if n.ExpireTime.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, n.ExpireTime.Unix())
		b = binary.AppendUvarint(b, uint64(n.ExpireTime.Nanosecond()))
	}
	// The audience as sets: sorted, without repeats (copied only when
	// they are not sorted already, the usual single recipient is).
	b = appendSet(b, n.Users)
	b = appendSet(b, n.Topics)
	if len(n.Channels) > 0 {
		b = appendSet(b, n.Channels)
	}
	sum := sha256.Sum256(b)
	return string(sum[:FingerprintSize])
}

// appendSet appends the distinct elements of xs in ascending order, after
// their count, without changing xs.
func appendSet[S ~[]E, E ~string](b []byte, xs S) []byte {
	if !slices.IsSorted(xs) {
		xs = slices.Clone(xs)
		slices.Sort(xs)
	}
	distinct := 0
	for i := range xs {
		if i == 0 || xs[i] != xs[i-1] {
			distinct++
		}
	}
	b = binary.AppendUvarint(b, uint64(distinct))
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		}
	}
	return b
}

// SameContent reports whether two fingerprints may be of the same
// notification: equal, or one of them unknown (a record written before
// fingerprints were kept).
func SameContent(a, b string) bool {
	return a == "" || b == "" || a == b
}
