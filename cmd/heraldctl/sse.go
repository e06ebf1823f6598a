package main

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// event is one dispatched Server-Sent Event.
type event struct {
	ID   string // the last event ID in force when it was dispatched
	Type string // "message" when the stream named none
	Data string // data lines joined by "\n"
}

// maxLine bounds one SSE line, so that a misbehaving server cannot make the
// client buffer without limit.
const maxLine = 1 << 20

// eventReader parses a text/event-stream as the HTML Living Standard
// ("Interpreting an event stream") describes: lines end in CRLF, LF or CR;
// comments start with ':'; an event is dispatched at a blank line, and only
// if it carried data; the last event ID and the retry delay persist across
// events.
type eventReader struct {
	sc     *bufio.Scanner
	lastID string
	// retry is the reconnection delay last set by the stream; zero if it
	// set none.
	retry time.Duration
	first bool
}

func newEventReader(r io.Reader, lastID string) *eventReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	sc.Split(newLineSplitter())
	return &eventReader{sc: sc, lastID: lastID, first: true}
}

// Next returns the next event. At the end of the stream it returns io.EOF,
// discarding an event that was not terminated by a blank line.
func (r *eventReader) Next() (event, error) {
	var (
		typ     string
		data    strings.Builder
		hasData bool
	)
	for r.sc.Scan() {
		line := r.sc.Text()
		if r.first {
			line = strings.TrimPrefix(line, "\uFEFF")
			r.first = false
		}
		if line == "" {
			if !hasData {
				typ = ""
				continue
			}
			if typ == "" {
				typ = "message"
			}
			return event{ID: r.lastID, Type: typ, Data: strings.TrimSuffix(data.String(), "\n")}, nil
		}
		if line[0] == ':' {
			continue // comment, e.g. ": keep-alive"
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			typ = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				r.lastID = value
			}
		case "retry":
			// Only ASCII digits count; ParseUint in base 10 accepts no sign.
			if ms, err := strconv.ParseUint(value, 10, 32); err == nil {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return event{}, err
	}
	return event{}, io.EOF
}

// newLineSplitter returns a bufio.SplitFunc for SSE lines. A CR ends a line
// at once, so that an event is not held back waiting to see whether an LF
// follows; an LF right after a CR is then skipped.
func newLineSplitter() bufio.SplitFunc {
	afterCR := false
	return func(data []byte, atEOF bool) (int, []byte, error) {
		skip := 0
		if afterCR && len(data) > 0 {
			afterCR = false
			if data[0] == '\n' {
				skip = 1
			}
		}
		if i := bytes.IndexAny(data[skip:], "\r\n"); i >= 0 {
			i += skip
			afterCR = data[i] == '\r'
			return i + 1, data[skip:i], nil
		}
		if atEOF && len(data) > skip {
			return len(data), data[skip:], nil
		}
		// Consume a skipped LF even if nothing else is buffered yet.
		return skip, nil, nil
	}
}
