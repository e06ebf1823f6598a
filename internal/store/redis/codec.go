package redisstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// An entry's value (the entries hash) is its topic and its notification in
// a compact versioned binary encoding: a version byte, then uvarint
// length-prefixed strings and varints. Lua never looks inside it; the
// little that scripts need (read state, append time, expiry) lives in the
// state hash.
const entryV1 = 1

// Time flags of an encoded notification.
const (
	hasCreate = 1 << iota
	hasExpire
)

var errCorrupt = errors.New("corrupt entry")

// encodeNotification encodes n's client-visible fields (not the audience
// nor the idempotency key), to be shared by the entries of a delivery.
func encodeNotification(dst []byte, n *notify.Notification) []byte {
	dst = appendString(dst, n.ID)
	dst = appendString(dst, n.Type)
	dst = appendString(dst, n.Title)
	dst = appendString(dst, n.Body)
	dst = appendString(dst, string(n.Data))
	dst = appendString(dst, n.Category)
	dst = append(dst, byte(n.Priority))
	var flags byte
	if !n.CreateTime.IsZero() {
		flags |= hasCreate
	}
	if !n.ExpireTime.IsZero() {
		flags |= hasExpire
	}
	dst = append(dst, flags)
	if flags&hasCreate != 0 {
		dst = binary.AppendVarint(dst, n.CreateTime.UnixNano())
	}
	if flags&hasExpire != 0 {
		dst = binary.AppendVarint(dst, n.ExpireTime.UnixNano())
	}
	return dst
}

// encodeEntry is an entry's value: topic, then the encoded notification.
func encodeEntry(topic notify.Topic, notification []byte) []byte {
	dst := make([]byte, 0, 1+binary.MaxVarintLen32+len(topic)+len(notification))
	dst = append(dst, entryV1)
	dst = appendString(dst, string(topic))
	return append(dst, notification...)
}

func decodeEntry(b []byte) (notify.Topic, *notify.Notification, error) {
	d := decoder{b: b}
	if len(b) == 0 || b[0] != entryV1 {
		return "", nil, errCorrupt
	}
	d.b = d.b[1:]
	topic := notify.Topic(d.string())
	n, err := d.notification()
	if err != nil {
		return "", nil, err
	}
	return topic, n, nil
}

// decodeNotification decodes what encodeNotification wrote (a channel
// event's notification).
func decodeNotification(b []byte) (*notify.Notification, error) {
	d := decoder{b: b}
	return d.notification()
}

// notification decodes an encoded notification, the rest of d.
func (d *decoder) notification() (*notify.Notification, error) {
	n := &notify.Notification{
		ID:       d.string(),
		Type:     d.string(),
		Title:    d.string(),
		Body:     d.string(),
		Data:     []byte(d.string()),
		Category: d.string(),
		Priority: notify.Priority(d.byte()),
	}
	if len(n.Data) == 0 {
		n.Data = nil
	}
	flags := d.byte()
	if flags&hasCreate != 0 {
		n.CreateTime = time.Unix(0, d.varint()).UTC()
	}
	if flags&hasExpire != 0 {
		n.ExpireTime = time.Unix(0, d.varint()).UTC()
	}
	if d.err != nil || len(d.b) != 0 || flags&^(hasCreate|hasExpire) != 0 {
		return nil, errCorrupt
	}
	return n, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads what the append functions wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) string() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.fail()
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}
