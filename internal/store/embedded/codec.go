package embedded

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Every value starts with a version byte, so that a later release can read
// what this one wrote and refuse what it cannot understand. Writers use the
// newest version; readers accept every version a data directory may hold.
const (
	bodyV1  = 1
	entryV1 = 1 // time, ID, topic
	entryV2 = 2 // flags, time, ID, topic, expiry if flagExpires
	metaV1  = 1
	idemV1  = 1 // ID, recipients, time
	idemV2  = 2 // ID, recipients, time, state, last user
	idemV3  = 3 // ID, recipients, time, state, last user, fingerprint

	chanMetaV1  = 1 // last, floor, first
	chanEventV1 = 1 // append time, then the body as encodeNotification writes it
)

// Entry flags: the read state, and whether an expiry time follows.
const (
	flagSeen     = 1 << 0
	flagRead     = 1 << 1
	flagArchived = 1 << 2
	flagExpires  = 1 << 3

	flagState = flagSeen | flagRead | flagArchived
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
	// flags holds the read state (flagState bits) and flagExpires.
	flags byte
	// expire is the notification's expiry in Unix nanoseconds (saturated)
	// when flagExpires is set. A copy of the body's, so that counting and
	// marking skip expired entries without reading a body per entry.
	expire int64
	// v1 is set on entries decoded from version 1: no flags, no expiry.
	v1 bool
}

// entryView is a decoded entry whose ID and topic alias the encoded bytes,
// so that scans over a whole inbox decode without allocating. It is valid
// as long as those bytes are.
type entryView struct {
	time      int64
	id, topic []byte
	flags     byte
	expire    int64
	v1        bool
}

// value copies the view into an entryValue.
func (v entryView) value() entryValue {
	return entryValue{time: v.time, id: string(v.id), topic: notify.Topic(v.topic), flags: v.flags, expire: v.expire, v1: v.v1}
}

// expired reports whether the entry's notification expired at now; known
// is false for a v1 entry, which carries no expiry: its body decides.
func (v entryView) expired(now time.Time) (expired, known bool) {
	if v.v1 {
		return false, false
	}
	return v.flags&flagExpires != 0 && now.UnixNano() >= v.expire, true
}

// unixNanos saturates t to int64 nanoseconds, so that far-off expiries
// stay ordered.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	default:
		return t.UnixNano()
	}
}

// idemRecord is what an idempotency key resolves to.
type idemRecord struct {
	id         string
	recipients int
	time       int64 // Unix nanoseconds of the first append
	// incomplete is set while a fan-out in parts is under way; lastUser is
	// the last recipient its parts stored (recipients are in ascending
	// user order across parts).
	incomplete bool
	lastUser   notify.UserID
	// fingerprint is the notification's Fingerprint; empty in records of
	// v1 and v2, which match any notification.
	fingerprint string
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
	flags := e.flags
	dst = append(dst, entryV2, flags)
	dst = binary.AppendVarint(dst, e.time)
	dst = appendString(dst, e.id)
	dst = appendString(dst, string(e.topic))
	if flags&flagExpires != 0 {
		dst = binary.AppendVarint(dst, e.expire)
	}
	return dst
}

func encodeMeta(dst []byte, m meta) []byte {
	dst = append(dst, metaV1)
	dst = binary.AppendUvarint(dst, uint64(m.last))
	return binary.AppendUvarint(dst, uint64(m.floor))
}

// Idempotency record states (v2).
const (
	idemComplete   = 0
	idemIncomplete = 1
)

func encodeIdem(dst []byte, r idemRecord) []byte {
	dst = append(dst, idemV3)
	dst = appendString(dst, r.id)
	dst = binary.AppendUvarint(dst, uint64(r.recipients))
	dst = binary.AppendVarint(dst, r.time)
	state := byte(idemComplete)
	if r.incomplete {
		state = idemIncomplete
	}
	dst = append(dst, state)
	dst = appendString(dst, string(r.lastUser))
	return appendString(dst, r.fingerprint)
}

// decoder reads one value; the first error sticks, so callers check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) version(want byte) {
	if v := d.byte(); v != want && d.err == nil {
		d.err = errCorrupt
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
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
	v, err := decodeEntryView(b)
	if err != nil {
		return entryValue{}, err
	}
	return v.value(), nil
}

func decodeEntryView(b []byte) (entryView, error) {
	d := decoder{b: b}
	var v entryView
	switch d.byte() {
	case entryV1:
		v = entryView{time: d.varint(), id: d.bytes(), topic: d.bytes(), v1: true}
	case entryV2:
		flags := d.byte()
		if flags&^(flagState|flagExpires) != 0 {
			d.err = errCorrupt
		}
		v = entryView{flags: flags, time: d.varint(), id: d.bytes(), topic: d.bytes()}
		if flags&flagExpires != 0 {
			v.expire = d.varint()
		}
	default:
		d.err = errCorrupt
	}
	if err := d.done(); err != nil {
		return entryView{}, err
	}
	return v, nil
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
	version := d.byte()
	if version < idemV1 || version > idemV3 {
		d.err = errCorrupt
	}
	r := idemRecord{id: d.string()}
	n := d.uvarint()
	r.time = d.varint()
	if version >= idemV2 {
		switch d.byte() {
		case idemComplete:
		case idemIncomplete:
			r.incomplete = true
		default:
			d.err = errCorrupt
		}
		r.lastUser = notify.UserID(d.string())
	}
	if version >= idemV3 {
		r.fingerprint = d.string()
	}
	if err := d.done(); err != nil {
		return idemRecord{}, err
	}
	if n > math.MaxInt32 {
		return idemRecord{}, errCorrupt
	}
	r.recipients = int(n)
	return r, nil
}

// chanMeta is a channel's position: the newest offset, the highest offset
// gone, and the first offset of the current history (see
// store.ChannelMissed).
type chanMeta struct {
	last, floor, first notify.Cursor
}

func encodeChanMeta(dst []byte, m chanMeta) []byte {
	dst = append(dst, chanMetaV1)
	dst = binary.AppendUvarint(dst, uint64(m.last))
	dst = binary.AppendUvarint(dst, uint64(m.floor))
	return binary.AppendUvarint(dst, uint64(m.first))
}

func decodeChanMeta(b []byte) (chanMeta, error) {
	d := decoder{b: b}
	d.version(chanMetaV1)
	m := chanMeta{last: notify.Cursor(d.uvarint()), floor: notify.Cursor(d.uvarint()), first: notify.Cursor(d.uvarint())}
	if err := d.done(); err != nil {
		return chanMeta{}, err
	}
	if m.floor > m.last || m.first > m.last+1 {
		return chanMeta{}, errCorrupt
	}
	return m, nil
}

// appendChanEvent encodes a channel event: its append time and body, the
// body encoded once by the caller for all the channels of a publish.
func appendChanEvent(dst []byte, at int64, body []byte) []byte {
	dst = append(dst, chanEventV1)
	dst = binary.AppendVarint(dst, at)
	return append(dst, body...)
}

// decodeChanEventHead returns an event's append time, its notification ID
// and its body, which alias b.
func decodeChanEventHead(b []byte) (at int64, id, body []byte, err error) {
	d := decoder{b: b}
	d.version(chanEventV1)
	at = d.varint()
	body = d.b
	d.version(bodyV1)
	id = d.bytes()
	if d.err != nil {
		return 0, nil, nil, d.err
	}
	return at, id, body, nil
}
