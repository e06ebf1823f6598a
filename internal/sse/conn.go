package sse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// sink is where a stream's frames go: net/http's response, or the
// connection the stream took over.
type sink interface {
	io.Writer
	SetWriteDeadline(time.Time) error
	// Flush pushes what was written to the client.
	Flush() error
}

// response is a stream's sink while net/http serves its connection.
type response struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (r response) Write(p []byte) (int, error)        { return r.w.Write(p) }
func (r response) SetWriteDeadline(t time.Time) error { return r.rc.SetWriteDeadline(t) }
func (r response) Flush() error                       { return r.rc.Flush() }

// ownConn is an HTTP/1 stream's connection, taken over from net/http once
// the stream is accepted. While a handler runs, net/http keeps its
// goroutine (8 KB of stack under the server's frames), a 4 KB read buffer,
// 6 KB of write buffers and a copy of the response headers for the
// connection; a stream is mostly idle, so it serves itself instead: its
// own goroutine with a shallow stack, a write buffer borrowed only while
// writing, and one goroutine reading to notice the client leave, as
// net/http's own does. HTTP/2 streams stay with net/http.
type ownConn struct {
	conn net.Conn
	// chunked frames writes as HTTP/1.1 chunks; an HTTP/1.0 response has
	// no framing and ends when the connection closes.
	chunked bool
	// head is the response's status line and headers, sent with the first
	// write so that they and the retry frame leave in one packet.
	head []byte
	// scratch is the handler's pool of buffers to frame a write in.
	scratch *sync.Pool
}

// takeOver hijacks w's connection and prepares the response head from
// hdr. ok is false when w cannot be hijacked (HTTP/2), and the caller
// answers through w.
func takeOver(rc *http.ResponseController, r *http.Request, hdr http.Header, scratch *sync.Pool) (c *ownConn, ok bool, err error) {
	if r.ProtoMajor != 1 {
		return nil, false, nil
	}
	conn, _, err := rc.Hijack()
	if errors.Is(err, http.ErrNotSupported) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	c = &ownConn{conn: conn, chunked: r.ProtoAtLeast(1, 1), scratch: scratch}
	var b bytes.Buffer
	if c.chunked {
		b.WriteString("HTTP/1.1 200 OK\r\n")
		hdr.Set("Transfer-Encoding", "chunked")
	} else {
		b.WriteString("HTTP/1.0 200 OK\r\n")
		hdr.Del("Connection") // the body ends when the connection closes
	}
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_ = hdr.Write(&b) // a bytes.Buffer does not fail
	b.WriteString("\r\n")
	c.head = b.Bytes()
	return c, true, nil
}

// Write sends p, the stream's buffered frames, as one chunk (with the
// response head before the first), in one write: the pieces are copied
// into a pooled buffer, since a writev reaches only a bare TCP connection
// and not one wrapped by the per-address limit or by TLS.
func (c *ownConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty chunk would end the body
	}
	bp := c.scratch.Get().(*[]byte)
	b := append((*bp)[:0], c.head...)
	if c.chunked {
		b = strconv.AppendUint(b, uint64(len(p)), 16)
		b = append(b, '\r', '\n')
		b = append(b, p...)
		b = append(b, '\r', '\n')
	} else {
		b = append(b, p...)
	}
	_, err := c.conn.Write(b)
	if cap(b) <= maxScratch {
		*bp = b
		c.scratch.Put(bp)
	}
	if err != nil {
		return 0, err
	}
	c.head = nil
	return len(p), nil
}

// maxScratch bounds the buffers kept for writing: a stream's write buffer
// and a chunk's framing, and the head of the first.
const maxScratch = 8 << 10

// SetWriteDeadline bounds the writes that follow; it fails only once the
// connection is closed, which the next write reports.
func (c *ownConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// Flush does nothing: Write leaves nothing buffered.
func (c *ownConn) Flush() error { return nil }

// end finishes the body (the last chunk) and closes the connection. A
// stream that never wrote sends its head first.
func (c *ownConn) end() {
	b := c.head
	if c.chunked {
		b = append(b, "0\r\n\r\n"...)
	}
	if len(b) > 0 {
		_, _ = c.conn.Write(b) // the client may be gone already
	}
	_ = c.conn.Close()
}

// watch waits for the client to leave, which a read shows, and then calls
// gone. A stream's client sends nothing after its request, so a read that
// returns data ends the stream too: reading and discarding whatever a
// client chose to send would spend the server's CPU at the client's pace.
func (c *ownConn) watch(gone context.CancelFunc) {
	defer gone()
	var b [1]byte
	_, _ = c.conn.Read(b[:])
}
