package embedded

import (
	"encoding/binary"

	"github.com/heraldhq/herald/internal/notify"
)

// Exported for the black-box tests: the codec has no public surface.
var (
	EncodeNotification = encodeNotification
	DecodeNotification = decodeNotification
	DecodeEntry        = decodeEntry
	EncodeEntry        = func(dst []byte, unixNano int64, id, topic string) []byte {
		return encodeEntry(dst, entryValue{time: unixNano, id: id, topic: notify.Topic(topic)})
	}
	DecodeMeta = decodeMeta
	DecodeIdem = decodeIdem
	EncodeMeta = func(last, floor notify.Cursor) []byte { return encodeMeta(nil, meta{last: last, floor: floor}) }

	MetaKey  = func(user notify.UserID) []byte { return metaKey(nil, user) }
	EntryKey = func(user notify.UserID, c notify.Cursor) []byte { return entryKey(nil, user, c) }
	BodyKey  = func(id string) []byte { return bodyKey(nil, id) }
	IdemKey  = func(key string) []byte { return idemKey(nil, key) }
)

// EntryState is a decoded entry with its state, for tests.
type EntryState struct {
	Time                          int64
	ID, Topic                     string
	Seen, Read, Archived, Expires bool
	Expire                        int64
	V1                            bool
}

// DecodeEntryState decodes an entry value.
func DecodeEntryState(b []byte) (EntryState, error) {
	e, err := decodeEntry(b)
	return EntryState{
		Time: e.time, ID: e.id, Topic: string(e.topic),
		Seen: e.flags&flagSeen != 0, Read: e.flags&flagRead != 0, Archived: e.flags&flagArchived != 0,
		Expires: e.flags&flagExpires != 0, Expire: e.expire, V1: e.v1,
	}, err
}

// EncodeEntryState encodes an entry as the current version.
func EncodeEntryState(st EntryState) []byte {
	e := entryValue{time: st.Time, id: st.ID, topic: notify.Topic(st.Topic), expire: st.Expire}
	for _, f := range []struct {
		on   bool
		flag byte
	}{{st.Seen, flagSeen}, {st.Read, flagRead}, {st.Archived, flagArchived}, {st.Expires, flagExpires}} {
		if f.on {
			e.flags |= f.flag
		}
	}
	return encodeEntry(nil, e)
}

// EncodeEntryV1 and EncodeIdemV1 write what releases before read state
// wrote, for the tests that open such data directories.
func EncodeEntryV1(unixNano int64, id, topic string) []byte {
	dst := []byte{entryV1}
	dst = binary.AppendVarint(dst, unixNano)
	dst = appendString(dst, id)
	return appendString(dst, topic)
}

func EncodeIdemV1(id string, recipients int, unixNano int64) []byte {
	dst := []byte{idemV1}
	dst = appendString(dst, id)
	dst = binary.AppendUvarint(dst, uint64(recipients))
	return binary.AppendVarint(dst, unixNano)
}

// IdemState is an idempotency record's fan-out state, for tests.
func IdemState(b []byte) (id string, recipients int, incomplete bool, lastUser notify.UserID, err error) {
	r, err := decodeIdem(b)
	return r.id, r.recipients, r.incomplete, r.lastUser, err
}

// EncodeIdem encodes an idempotency record as the current version.
func EncodeIdem(id string, recipients int, unixNano int64, incomplete bool, lastUser notify.UserID) []byte {
	return encodeIdem(nil, idemRecord{id: id, recipients: recipients, time: unixNano, incomplete: incomplete, lastUser: lastUser})
}

// HoldWriter makes the writer goroutine wait, once it has taken what was
// queued before, until release is called; requests queued meanwhile stay
// queued.
func HoldWriter(s *Store) (release func()) {
	r := &request{hold: make(chan struct{}), reply: make(chan reply, 1)}
	s.reqs <- r
	<-r.reply
	return func() { close(r.hold) }
}

// EncodeIdemV2 writes an idempotency record as releases before content
// fingerprints did.
func EncodeIdemV2(id string, recipients int, unixNano int64) []byte {
	dst := EncodeIdemV1(id, recipients, unixNano)
	dst[0] = idemV2
	return appendString(append(dst, idemComplete), "")
}

// IdemFingerprint is an idempotency record's content fingerprint.
func IdemFingerprint(b []byte) (string, error) {
	r, err := decodeIdem(b)
	return r.fingerprint, err
}
