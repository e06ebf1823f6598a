package main

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
)

// frame is one dispatched SSE event, as much of it as the load tool needs.
// Its slices point into the reader's buffer and are valid until the next
// call of next.
type frame struct {
	id      []byte // the event's own id line; nil if it had none
	event   []byte // the event name; nil for the default "message"
	seq     uint64 // the notification's bench sequence number ("s")
	sent    int64  // the notification's send time in Unix nanoseconds ("t")
	hasData bool
	bench   bool // the data carried both s and t
}

// errLongLine is returned for a line longer than the reader's buffer: the
// payloads the tool sends are a few hundred bytes, so such a line is a
// protocol error worth reporting rather than something to reassemble.
var errLongLine = errors.New("sse line longer than the read buffer")

// sseReader parses the subset of text/event-stream that an SSE server
// writes (LF line ends, one data line per event) without allocating per
// event: lines are read in place with ReadSlice and the data line is
// scanned for the bench fields at once, so nothing is copied.
type sseReader struct {
	br *bufio.Reader
	// idBuf and evBuf keep the pending id and event name, which must
	// outlive the next ReadSlice.
	idBuf, evBuf []byte
}

func newSSEReader(br *bufio.Reader) *sseReader {
	return &sseReader{br: br, idBuf: make([]byte, 0, 64), evBuf: make([]byte, 0, 32)}
}

// next returns the next event that carried data or an id. Comments and
// retry frames are skipped.
func (r *sseReader) next() (frame, error) {
	var f frame
	r.evBuf = r.evBuf[:0]
	for {
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return frame{}, errLongLine
			}
			return frame{}, err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			if f.hasData || f.id != nil {
				if len(r.evBuf) > 0 {
					f.event = r.evBuf
				}
				return f, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) { // no allocation: the compiler compares in place
		case "id":
			r.idBuf = append(r.idBuf[:0], value...)
			f.id = r.idBuf
		case "event":
			r.evBuf = append(r.evBuf[:0], value...)
		case "data":
			f.hasData = true
			f.seq, f.sent, f.bench = benchFields(value)
		}
	}
}

// Keys of the bench fields inside the notification's data object. The
// values are JSON strings of decimal digits, so that a Unix time in
// nanoseconds survives google.protobuf.Struct, whose numbers are doubles.
var (
	seqKey  = []byte(`"s":"`)
	sentKey = []byte(`"t":"`)
)

// benchFields finds "s" and "t" in a notification payload such as
// {"id":"…","type":"bench","title":"b","data":{"s":"12","t":"1700000000000000000"},…}.
// The tool chooses every other field, so no other key is "s" or "t".
func benchFields(data []byte) (seq uint64, sent int64, ok bool) {
	s, ok1 := digitsAfter(data, seqKey)
	t, ok2 := digitsAfter(data, sentKey)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return s, int64(t), true
}

func digitsAfter(data, key []byte) (uint64, bool) {
	i := bytes.Index(data, key)
	if i < 0 {
		return 0, false
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || j > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range rest[:j] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// appendBenchData appends the data object carrying seq and the send time.
func appendBenchData(b []byte, seq uint64, sent int64) []byte {
	b = append(b, `{"s":"`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","t":"`...)
	b = strconv.AppendInt(b, sent, 10)
	return append(b, `"}`...)
}
