package notify

import (
	"time"
	"unicode/utf8"
)

// encodePayload builds the JSON object clients receive. It gives the bytes
// encoding/json gives for the same fields (HTML characters, U+2028 and
// U+2029 escaped, invalid UTF-8 replaced) without reflection and without a
// second pass to validate Data: this runs once per notification on the
// delivery path.
func (n *Notification) encodePayload(v via) []byte {
	// The keys and two timestamps take about 160 bytes; escapes are rare.
	b := make([]byte, 0, 160+len(n.ID)+len(n.Type)+len(n.Title)+len(n.Body)+len(n.Data)+len(n.Category)+len(v.name))
	b = append(b, `{"id":`...)
	b = appendString(b, n.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, n.EventType())
	b = append(b, `,"title":`...)
	b = appendString(b, n.Title)
	if n.Body != "" {
		b = append(b, `,"body":`...)
		b = appendString(b, n.Body)
	}
	if len(n.Data) > 0 {
		if d, ok := appendData(append(b, `,"data":`...), n.Data); ok {
			b = d
		}
	}
	switch {
	case v.channel:
		b = append(b, `,"channel":`...)
		b = appendString(b, v.name)
	case v.name != "":
		b = append(b, `,"topic":`...)
		b = appendString(b, v.name)
	}
	if n.Category != "" {
		b = append(b, `,"category":`...)
		b = appendString(b, n.Category)
	}
	b = append(b, `,"priority":"`...)
	b = append(b, n.Priority.String()...)
	// RFC 3339 times hold nothing JSON or HTML would escape.
	b = append(b, `","created_at":"`...)
	b = n.CreateTime.UTC().AppendFormat(b, time.RFC3339Nano)
	if !n.ExpireTime.IsZero() {
		b = append(b, `","expires_at":"`...)
		b = n.ExpireTime.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, `"}`...)
}

// appendData appends d, compact JSON from ingest, escaping what
// encoding/json escapes in a json.RawMessage. Those characters can only be
// inside strings, where the escapes mean the same. It refuses (ok false)
// data holding a control character, which compact JSON never has, so that
// a damaged record cannot break the one-line payload.
func appendData(b, d []byte) (out []byte, ok bool) {
	start := 0
	for i := 0; i < len(d); {
		c := d[i]
		switch {
		case c < ' ':
			return b, false
		case c == '<' || c == '>' || c == '&':
			b = append(b, d[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
			start = i
		case c == 0xe2 && i+2 < len(d) && d[i+1] == 0x80 && d[i+2]&^1 == 0xa8:
			// U+2028 and U+2029 end lines in JavaScript source.
			b = append(b, d[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[d[i+2]&0xf])
			i += 3
			start = i
		default:
			i++
		}
	}
	return append(b, d[start:]...), true
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
