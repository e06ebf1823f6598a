package auth

import (
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/heraldhq/herald/internal/notify"
)

// Bounds of a token's channels claim, which travels in every request.
const (
	MaxChannelPatterns   = 64
	maxChannelPatternLen = notify.MaxChannelLen
)

// ErrChannelDenied is the error of a channel the caller may not listen to.
var ErrChannelDenied = errors.New("not allowed to listen to this channel")

// ChannelPolicy says who may listen to which channel. Patterns are
// path.Match patterns: "rooms/*" matches "rooms/developers" but not
// "rooms/a/b".
type ChannelPolicy struct {
	// Public channels are open to any valid user token.
	Public []string
	// Anonymous channels may be listened to with no token at all.
	Anonymous []string
}

// ParseChannelPatterns checks patterns: each a well-formed path.Match
// pattern of at most MaxChannelLen bytes. It is used for the server's
// settings and for tokens' claims alike.
func ParseChannelPatterns(patterns []string) error {
	if len(patterns) > MaxChannelPatterns {
		return fmt.Errorf("%d channel patterns, at most %d", len(patterns), MaxChannelPatterns)
	}
	for _, p := range patterns {
		if p == "" || len(p) > maxChannelPatternLen {
			return fmt.Errorf("channel pattern %q: empty or longer than %d bytes", p, maxChannelPatternLen)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("channel pattern %q: %w", p, err)
		}
	}
	return nil
}

// Allow reports whether the bearer of claims may listen to ch: a public
// channel, one the token's channels claim matches, or, for a caller with no
// token (claims nil), an anonymous channel. The error names the channel.
func (p ChannelPolicy) Allow(claims *Claims, ch notify.Channel) error {
	if matchAny(p.Anonymous, ch) {
		return nil
	}
	if claims != nil && (matchAny(p.Public, ch) || matchAny(claims.Channels, ch)) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrChannelDenied, ch)
}

func matchAny(patterns []string, ch notify.Channel) bool {
	for _, p := range patterns {
		// Patterns were checked when they were read, so Match cannot fail.
		if ok, _ := path.Match(p, string(ch)); ok {
			return true
		}
	}
	return false
}

// ErrTooManyChannels is the error of a stream asking for more channels than
// its limit.
var ErrTooManyChannels = errors.New("too many channels for one stream")

// Listen checks the channel names a stream asks for: each a valid channel
// name the caller may listen to (see Allow), at most max of them once
// repeats are dropped. It returns them in the order asked. The errors wrap
// notify.ErrBadChannel, ErrTooManyChannels or ErrChannelDenied and name the
// channel; names are echoed only once they are known to be valid.
func (p ChannelPolicy) Listen(claims *Claims, names []string, max int) ([]notify.Channel, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]notify.Channel, 0, min(len(names), max+1))
	for i, name := range names {
		ch, err := notify.ParseChannel(name)
		if err != nil {
			return nil, fmt.Errorf("channel %d: %w", i+1, err)
		}
		if slices.Contains(out, ch) {
			continue
		}
		if len(out) == max {
			return nil, fmt.Errorf("%w: at most %d", ErrTooManyChannels, max)
		}
		out = append(out, ch)
	}
	for _, ch := range out {
		if err := p.Allow(claims, ch); err != nil {
			return nil, err
		}
	}
	return out, nil
}
