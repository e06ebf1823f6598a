package sse_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// This file is a small parser that follows the event-stream interpretation of
// the HTML standard (section 9.2.6), so tests read streams the way a browser
// does, with no SSE library.

type field struct{ name, value string }

// frame is one block of lines ended by a blank line.
type frame struct {
	fields   []field
	comments []string
	raw      string // the frame's bytes as sent, blank line included
}

// value returns the last value of the named field.
func (f frame) value(name string) (string, bool) {
	v, ok := "", false
	for _, fl := range f.fields {
		if fl.name == name {
			v, ok = fl.value, true
		}
	}
	return v, ok
}

// data is what a browser hands to the listener: the data lines joined by LF.
func (f frame) data() string {
	var lines []string
	for _, fl := range f.fields {
		if fl.name == "data" {
			lines = append(lines, fl.value)
		}
	}
	return strings.Join(lines, "\n")
}

// dispatches reports whether a browser would dispatch an event for the frame.
func (f frame) dispatches() bool {
	_, ok := f.value("data")
	return ok
}

func (f frame) id() string    { v, _ := f.value("id"); return v }
func (f frame) event() string { v, _ := f.value("event"); return v }

type frameReader struct {
	br  *bufio.Reader
	raw strings.Builder
}

func newFrameReader(r io.Reader) *frameReader { return &frameReader{br: bufio.NewReader(r)} }

var errTruncated = errors.New("stream ended inside a frame")

// line reads up to a CRLF, LF or CR terminator, like the standard's parser.
func (r *frameReader) line() (string, error) {
	var sb strings.Builder
	for {
		c, err := r.br.ReadByte()
		if err == nil {
			r.raw.WriteByte(c)
		}
		if err != nil {
			if err == io.EOF && sb.Len() > 0 {
				return "", errTruncated
			}
			return "", err
		}
		switch c {
		case '\n':
			return sb.String(), nil
		case '\r':
			if next, err := r.br.Peek(1); err == nil && next[0] == '\n' {
				r.br.ReadByte()
				r.raw.WriteByte('\n')
			}
			return sb.String(), nil
		}
		sb.WriteByte(c)
	}
}

// next returns the next frame; io.EOF at a clean end of stream.
func (r *frameReader) next() (frame, error) {
	var f frame
	started := false
	r.raw.Reset()
	for {
		l, err := r.line()
		if err != nil {
			if err == io.EOF && started {
				return f, errTruncated
			}
			return f, err
		}
		if l == "" {
			if !started {
				r.raw.Reset()
				continue // stray blank lines dispatch nothing
			}
			f.raw = r.raw.String()
			return f, nil
		}
		started = true
		if strings.HasPrefix(l, ":") {
			f.comments = append(f.comments, strings.TrimPrefix(l[1:], " "))
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if ok {
			value = strings.TrimPrefix(value, " ")
		}
		f.fields = append(f.fields, field{name, value})
	}
}

// nextEvent skips comment and retry frames up to the next dispatched event.
func (r *frameReader) nextEvent() (frame, error) {
	for {
		f, err := r.next()
		if err != nil || f.dispatches() {
			return f, err
		}
	}
}

// parseAll splits a complete stream into frames.
func parseAll(s string) ([]frame, error) {
	r := newFrameReader(strings.NewReader(s))
	var out []frame
	for {
		f, err := r.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}
