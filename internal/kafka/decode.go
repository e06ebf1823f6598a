package kafka

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// decode reads a message's value as a Notification: binary protobuf when
// its content-type header says so, protojson otherwise. A message without
// an idempotency key gets one, so that a redelivered message is not stored
// twice: its Kafka key, or else its place and content (see keyOf).
func decode(m kafkago.Message, strict bool) (*heraldv1.Notification, error) {
	n := new(heraldv1.Notification)
	if isProtobuf(m.Headers) {
		if err := proto.Unmarshal(m.Value, n); err != nil {
			return nil, fmt.Errorf("protobuf: %w", err)
		}
	} else {
		opts := protojson.UnmarshalOptions{DiscardUnknown: !strict}
		if err := opts.Unmarshal(m.Value, n); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
	}
	if n.GetIdempotencyKey() == "" {
		n.IdempotencyKey = keyOf(m)
	}
	return n, nil
}

// maxPlainKey is the longest Kafka key used as an idempotency key as is.
const maxPlainKey = 128

// keyOf derives an idempotency key from m. A Kafka key that is not short
// printable text (binary IDs, say) is hashed rather than refused. Without a
// key, the offset alone does not identify a message: a broker that starts
// empty (the embedded one, at every start) or a topic deleted and recreated
// hands out the same offsets again, to other messages. So the key is the
// partition and offset with a hash of everything the producer wrote: topic,
// timestamp, headers and value. A redelivery carries the same bytes and
// matches; another message at a reused offset differs at least in its
// timestamp and never does.
func keyOf(m kafkago.Message) string {
	if len(m.Key) == 0 {
		sum := contentHash(m)
		return "kafka-msg/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10) + "/" + hex.EncodeToString(sum[:16])
	}
	if len(m.Key) <= maxPlainKey && printable(m.Key) {
		return string(m.Key)
	}
	sum := sha256.Sum256(m.Key)
	return "kafka-key-sha256/" + hex.EncodeToString(sum[:])
}

// contentHash is a SHA-256 of what identifies a keyless message beside its
// offset, each part length-prefixed so that no two messages share an input.
func contentHash(m kafkago.Message) [sha256.Size]byte {
	h := sha256.New()
	var b []byte
	field := func(p []byte) {
		b = binary.AppendUvarint(b[:0], uint64(len(p)))
		h.Write(b)
		h.Write(p)
	}
	field([]byte("no-key")) // this derivation, apart from any other
	field([]byte(m.Topic))
	field(binary.AppendVarint(nil, m.Time.UnixMilli()))
	field(binary.AppendUvarint(nil, uint64(len(m.Headers))))
	for _, hd := range m.Headers {
		field([]byte(hd.Key))
		field(hd.Value)
	}
	field(m.Value)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// printable matches what the API accepts as an idempotency key.
func printable(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
		b = b[size:]
	}
	return true
}

func isProtobuf(hs []kafkago.Header) bool {
	for _, h := range hs {
		if !strings.EqualFold(h.Key, "content-type") {
			continue
		}
		// Parameters such as "; proto=herald.v1.Notification" are allowed.
		ct, _, _ := strings.Cut(string(h.Value), ";")
		switch strings.ToLower(strings.TrimSpace(ct)) {
		case "application/x-protobuf", "application/protobuf":
			return true
		}
		return false
	}
	return false
}
