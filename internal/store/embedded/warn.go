package embedded

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// warnEvery is the least time between two log lines of one message while a
// fault repeats: a full disk fails every reopen attempt (every 5 s at the
// backoff's cap) and Pebble reports each, so an hour of it logged hundreds
// of identical lines.
const warnEvery = time.Minute

// warnLimiter logs the first line of each message at once, then at most one
// per interval, counting in repeated= the lines it dropped since the last.
type warnLimiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	msgs map[string]*warnState
}

type warnState struct {
	last    time.Time
	dropped int
}

// maxWarnMessages bounds the messages remembered: Pebble's carry file
// numbers, so a long fault could otherwise grow the map without end.
const maxWarnMessages = 256

func newWarnLimiter(every time.Duration, now func() time.Time) *warnLimiter {
	return &warnLimiter{every: every, now: now, msgs: make(map[string]*warnState)}
}

// log writes msg at level through l unless a line of msg went out within
// the interval.
func (w *warnLimiter) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	w.logAs(l, level, msg, msg, args...)
}

// logAs is log with messages told apart by key: messages of one key share
// the interval.
func (w *warnLimiter) logAs(l *slog.Logger, level slog.Level, key, msg string, args ...any) {
	if !l.Enabled(context.Background(), level) {
		return
	}
	now := w.now()
	w.mu.Lock()
	st, ok := w.msgs[key]
	if !ok {
		if len(w.msgs) >= maxWarnMessages {
			clear(w.msgs)
		}
		st = &warnState{}
		w.msgs[key] = st
	}
	if ok && now.Sub(st.last) < w.every {
		st.dropped++
		w.mu.Unlock()
		return
	}
	dropped := st.dropped
	st.last, st.dropped = now, 0
	w.mu.Unlock()
	if dropped > 0 {
		args = append(args, "repeated", dropped)
	}
	l.Log(context.Background(), level, msg, args...)
}

// withoutNumbers is msg with each run of digits replaced by '#': Pebble's
// messages carry file numbers, so that a repeating fault ("write
// 000123.sst: no space left on device", then 000124, …, every few
// milliseconds while a full disk refuses a flush) reads as one message.
func withoutNumbers(msg string) string {
	b := make([]byte, 0, len(msg))
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if '0' <= c && c <= '9' {
			if n := len(b); n == 0 || b[n-1] != '#' {
				b = append(b, '#')
			}
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// errText is err's message for a log line. slog formats an error value with
// %+v, which prints the stack traces that Pebble's errors carry.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
