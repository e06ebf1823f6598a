package embedded

import "github.com/heraldhq/herald/internal/notify"

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
)
