package limit

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

// ConnOptions configure ConnsPerIP.
type ConnOptions struct {
	// Reply, when set, is written to a refused connection before it is
	// closed: a complete HTTP/1.1 response on a plaintext listener.
	// Without it (under TLS, where plaintext would be noise) a refused
	// connection is just closed.
	Reply []byte
	// Registerer, when not nil, receives the refusal counter (see promreg;
	// a failure is logged to Logger, default discard).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// refusing bounds the refused connections being answered at once, and
// refuseLinger how long each may take: a flood from one address must not
// turn into a flood of goroutines and file descriptors. Past the bound a
// refused connection is closed without a reply.
const (
	refusing     = 64
	refuseLinger = time.Second
)

// HTTPTooManyConns is the reply to a refused plaintext HTTP connection.
var HTTPTooManyConns = httpReply("429 Too Many Requests",
	`{"error":{"code":"resource_exhausted","message":"too many open connections from your address"}}`+"\n")

func httpReply(status, body string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
}

// ConnsPerIP wraps lis so that at most max connections from one remote IP
// are open at once (max <= 0: no limit, lis is returned). A connection over
// the limit is refused when accepted; its slot is given back when an
// accepted connection is closed.
func ConnsPerIP(lis net.Listener, max int, opts ConnOptions) net.Listener {
	if max <= 0 {
		return lis
	}
	l := &perIP{
		Listener: lis,
		max:      max,
		reply:    opts.Reply,
		open:     make(map[netip.Addr]int),
		answer:   make(chan struct{}, refusing),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "limit", Name: "connections_refused_total",
			Help: "HTTP connections refused because their address had --max-conns-per-ip open.",
		}),
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l.refused = promreg.Register(opts.Registerer, log, l.refused)
	return l
}

type perIP struct {
	net.Listener
	max     int
	reply   []byte
	answer  chan struct{} // a semaphore of refusals being answered
	refused prometheus.Counter

	mu   sync.Mutex
	open map[netip.Addr]int
}

func (l *perIP) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c)
		if !ok {
			return c, nil // not an IP peer (a unix socket): nothing to count by
		}
		if l.acquire(ip) {
			return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		l.refused.Inc()
		l.refuse(c)
	}
}

func (l *perIP) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

func (l *perIP) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[ip] - 1; n > 0 {
		l.open[ip] = n
	} else {
		delete(l.open, ip)
	}
}

// refuse answers c, off the accept loop, and closes it.
func (l *perIP) refuse(c net.Conn) {
	if l.reply == nil {
		c.Close()
		return
	}
	select {
	case l.answer <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.answer }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(refuseLinger))
		if _, err := c.Write(l.reply); err != nil {
			return
		}
		// Closing with the client's request unread would send a reset,
		// which can destroy the reply before the client reads it: say we
		// are done writing, then read until the client closes.
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

func remoteIP(c net.Conn) (netip.Addr, bool) {
	a, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	return a.AddrPort().Addr().Unmap(), true
}

// countedConn gives its slot back once, however often it is closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
