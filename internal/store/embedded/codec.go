package embedded

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Every value starts with a version byte, so that a later release can read
// what this one wrote and refuse what it cannot understand.
const (
	bodyV1  = 1
	entryV1 = 1
	metaV1  = 1
	idemV1  = 1
)

// Times outside years 0 to 9999 are refused; no valid notification has one.
const (
	minUnix = -62167219200 // 0000-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

var errCorrupt = errors.New("store: corrupt value")

// meta is a user's position: the newest cursor, and the highest cursor
// removed by retention.
type meta struct {
	last  notify.Cursor
	floor notify.Cursor
}

// entryValue is what a per-user entry key holds.
type entryValue struct {
	time  int64 // append time, Unix nanoseconds
	id    string
	topic notify.Topic
}

// idemRecord is what an idempotency key resolves to.
type idemRecord struct {
	id         string
	recipients int
	time       int64 // Unix nanoseconds of the first append
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func encodeNotification(dst []byte, n *notify.Notification) []byte {
	dst = append(dst, bodyV1)
	dst = appendString(dst, n.ID)
	dst = appendString(dst, n.Type)
	dst = appendString(dst, n.Title)
	dst = appendString(dst, n.Body)
	dst = appendString(dst, string(n.Data))
	dst = appendString(dst, n.Category)
	dst = binary.AppendVarint(dst, int64(n.Priority))
	dst = appendTime(dst, n.CreateTime)
	return appendTime(dst, n.ExpireTime)
}

func encodeEntry(dst []byte, e entryValue) []byte {
	dst = append(dst, entryV1)
	dst = binary.AppendVarint(dst, e.time)
	dst = appendString(dst, e.id)
	return appendString(dst, string(e.topic))
}

func encodeMeta(dst []byte, m meta) []byte {
	dst = append(dst, metaV1)
	dst = binary.AppendUvarint(dst, uint64(m.last))
	return binary.AppendUvarint(dst, uint64(m.floor))
}

func encodeIdem(dst []byte, r idemRecord) []byte {
	dst = append(dst, idemV1)
	dst = appendString(dst, r.id)
	dst = binary.AppendUvarint(dst, uint64(r.recipients))
	return binary.AppendVarint(dst, r.time)
}

// decoder reads one value; the first error sticks, so callers check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) version(want byte) {
	if len(d.b) == 0 || d.b[0] != want {
		d.err = errCorrupt
		return
	}
	d.b = d.b[1:]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// Overlong encodings are refused, so that every value has one spelling.
	if n <= 0 || n != uvarintLen(v) {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != uvarintLen(uint64(v)<<1^uint64(v>>63)) {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	if len(d.b) == 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	flag := d.b[0]
	d.b = d.b[1:]
	switch flag {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.err = errCorrupt
		return time.Time{}
	}
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	// Only canonical encodings: years 0 to 9999 (time.Time wraps far
	// outside), nanoseconds in range, and not the zero time, which has its
	// own flag.
	if nsec >= 1e9 || sec < minUnix || sec > maxUnix {
		d.err = errCorrupt
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		d.err = errCorrupt
		return time.Time{}
	}
	return t
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// done reports the first error, or trailing bytes as corruption.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

func decodeNotification(b []byte) (*notify.Notification, error) {
	d := decoder{b: b}
	d.version(bodyV1)
	n := &notify.Notification{
		ID:    d.string(),
		Type:  d.string(),
		Title: d.string(),
		Body:  d.string(),
	}
	if data := d.bytes(); len(data) > 0 {
		n.Data = append([]byte(nil), data...)
	}
	n.Category = d.string()
	p := d.varint()
	if p < math.MinInt8 || p > math.MaxInt8 {
		d.err = errCorrupt
	}
	n.Priority = notify.Priority(p)
	n.CreateTime = d.time()
	n.ExpireTime = d.time()
	if err := d.done(); err != nil {
		return nil, err
	}
	return n, nil
}

func decodeEntry(b []byte) (entryValue, error) {
	d := decoder{b: b}
	d.version(entryV1)
	e := entryValue{time: d.varint(), id: d.string(), topic: notify.Topic(d.string())}
	if err := d.done(); err != nil {
		return entryValue{}, err
	}
	return e, nil
}

func decodeMeta(b []byte) (meta, error) {
	d := decoder{b: b}
	d.version(metaV1)
	m := meta{last: notify.Cursor(d.uvarint()), floor: notify.Cursor(d.uvarint())}
	if err := d.done(); err != nil {
		return meta{}, err
	}
	if m.floor > m.last {
		return meta{}, errCorrupt
	}
	return m, nil
}

func decodeIdem(b []byte) (idemRecord, error) {
	d := decoder{b: b}
	d.version(idemV1)
	r := idemRecord{id: d.string()}
	n := d.uvarint()
	r.time = d.varint()
	if err := d.done(); err != nil {
		return idemRecord{}, err
	}
	if n > math.MaxInt32 {
		return idemRecord{}, errCorrupt
	}
	r.recipients = int(n)
	return r, nil
}
