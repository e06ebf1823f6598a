package embedded

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Key kinds; see the package documentation for the layout.
const (
	kindUser       = 'u'
	kindBody       = 'n'
	kindBodyAge    = 'a'
	kindBodyExpire = 'x'
	kindIdem       = 'i'
	kindIdemAge    = 'k'
	kindChan       = 'c'

	tagMeta  = 0x00
	tagEntry = 0x01
	tagEnd   = 0x02 // just past a user's keys
)

var errBadKey = errors.New("malformed key")

func appendUserPrefix(dst []byte, user notify.UserID) []byte {
	dst = append(dst, kindUser)
	dst = binary.AppendUvarint(dst, uint64(len(user)))
	return append(dst, user...)
}

// compareKeyOrder orders users as their keys are, by length and then bytes,
// for IDs shorter than 128 bytes (the length is a varint). It only orders
// writes for the memtable's sake, so longer ones need not be exact.
func compareKeyOrder(a, b notify.UserID) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(string(a), string(b))
}

func metaKey(dst []byte, user notify.UserID) []byte {
	return append(appendUserPrefix(dst, user), tagMeta)
}

func entryKey(dst []byte, user notify.UserID, c notify.Cursor) []byte {
	dst = append(appendUserPrefix(dst, user), tagEntry)
	return binary.BigEndian.AppendUint64(dst, uint64(c))
}

func userEnd(dst []byte, user notify.UserID) []byte {
	return append(appendUserPrefix(dst, user), tagEnd)
}

// parseUserKey splits a 'u' key into user, tag and the rest.
func parseUserKey(k []byte) (notify.UserID, byte, []byte, error) {
	if len(k) < 2 || k[0] != kindUser {
		return "", 0, nil, errBadKey
	}
	n, w := binary.Uvarint(k[1:])
	rest := len(k) - 1 - w // bytes after the length: user, then tag
	if w <= 0 || rest < 1 || n > uint64(rest-1) {
		return "", 0, nil, errBadKey
	}
	start := 1 + w
	user := notify.UserID(k[start : start+int(n)])
	return user, k[start+int(n)], k[start+int(n)+1:], nil
}

func appendChanPrefix(dst []byte, ch notify.Channel) []byte {
	dst = append(dst, kindChan)
	dst = binary.AppendUvarint(dst, uint64(len(ch)))
	return append(dst, ch...)
}

// chanMetaKey, chanEventKey and chanEnd lay a channel's keys out as a
// user's: the meta record, then the events by offset.
func chanMetaKey(dst []byte, ch notify.Channel) []byte {
	return append(appendChanPrefix(dst, ch), tagMeta)
}

func chanEventKey(dst []byte, ch notify.Channel, off notify.Cursor) []byte {
	dst = append(appendChanPrefix(dst, ch), tagEntry)
	return binary.BigEndian.AppendUint64(dst, uint64(off))
}

func chanEnd(dst []byte, ch notify.Channel) []byte {
	return append(appendChanPrefix(dst, ch), tagEnd)
}

// parseChanKey splits a 'c' key into channel, tag and the rest.
func parseChanKey(k []byte) (notify.Channel, byte, []byte, error) {
	if len(k) < 2 || k[0] != kindChan {
		return "", 0, nil, errBadKey
	}
	k = append([]byte{kindUser}, k[1:]...)
	user, tag, rest, err := parseUserKey(k)
	return notify.Channel(user), tag, rest, err
}

func bodyKey(dst []byte, id string) []byte {
	return append(append(dst, kindBody), id...)
}

func idemKey(dst []byte, key string) []byte {
	return append(append(dst, kindIdem), key...)
}

// timeKey is kind, time, suffix: an index ordered by time.
func timeKey(dst []byte, kind byte, t time.Time, suffix string) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint64(dst, clampNanos(t))
	return append(dst, suffix...)
}

// parseTimeKey returns the suffix of a timeKey.
func parseTimeKey(k []byte) (string, error) {
	if len(k) < 9 {
		return "", errBadKey
	}
	return string(k[9:]), nil
}

// clampNanos maps t to unsigned nanoseconds since 1970, saturating outside
// the range int64 nanoseconds can hold, so index keys stay ordered.
func clampNanos(t time.Time) uint64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	default:
		return uint64(t.UnixNano())
	}
}

func cursorOf(b []byte) notify.Cursor { return notify.Cursor(binary.BigEndian.Uint64(b)) }
