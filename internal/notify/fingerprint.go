package notify

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// FingerprintSize is the length of a ContentFingerprint.
const FingerprintSize = 16

// ContentFingerprint returns 16 bytes that tell two notifications apart by
// what their sender chose: audience (as sets), type, title, body, data,
// category, priority and expiry; not the ID, the creation time nor the key,
// which the server assigns or which are the same by definition. A retry
// has the same fingerprint; a different notification under a reused key
// has another. Data is the compact JSON ingest writes, keys sorted, so the
// same object always gives the same bytes.
func (n *Notification) ContentFingerprint() string {
	h := sha256.New()
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b[:0], uint64(len(s)))
		b = append(b, s...)
		h.Write(b)
	}
	str(n.EventType())
	str(n.Title)
	str(n.Body)
	str(string(n.Data))
	str(n.Category)
	b = binary.AppendVarint(b[:0], int64(n.Priority))
	if n.ExpireTime.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, n.ExpireTime.Unix())
		b = binary.AppendUvarint(b, uint64(n.ExpireTime.Nanosecond()))
	}
	h.Write(b)
	users := slices.Clone(n.Users)
	slices.Sort(users)
	b = binary.AppendUvarint(b[:0], uint64(len(users)))
	h.Write(b)
	for _, u := range slices.Compact(users) {
		str(string(u))
	}
	topics := slices.Clone(n.Topics)
	slices.SortFunc(topics, func(a, b Topic) int { return cmp.Compare(a, b) })
	b = binary.AppendUvarint(b[:0], uint64(len(topics)))
	h.Write(b)
	for _, t := range slices.Compact(topics) {
		str(string(t))
	}
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0])[:FingerprintSize])
}

// SameContent reports whether two fingerprints may be of the same
// notification: equal, or one of them unknown (a record written before
// fingerprints were kept).
func SameContent(a, b string) bool {
	return a == "" || b == "" || a == b
}
