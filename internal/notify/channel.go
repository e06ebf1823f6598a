package notify

import (
	"errors"
	"strings"
)

// Channel names a live feed: a capped log of events that whoever may listen
// streams, with no inbox entry per listener (rooms, tickers, status pages).
type Channel string

// MaxChannelLen bounds channel names, which end up in store keys and URLs.
const MaxChannelLen = MaxTopicLen

// ErrBadChannel is returned by ParseChannel for a name that breaks the
// topic name rules.
var ErrBadChannel = errors.New("malformed channel")

// ParseChannel checks that s is a usable channel name, by the rules of
// topic names (see ParseTopic): "rooms/developers", "scores/match-42".
func ParseChannel(s string) (Channel, error) {
	if _, err := ParseTopic(s); err != nil {
		return "", ErrBadChannel
	}
	return Channel(s), nil
}

// channelKeyPrefix starts the key under which a channel's events travel
// through the hub and the bus, which route by user ID: no user ID holds a
// control character (see ParseUserID), so no user can have a channel's key,
// and a channel's listeners share its events like a user's streams share
// the user's.
const channelKeyPrefix = "\x00#"

// Key is the ID under which the channel's events are routed.
func (c Channel) Key() UserID { return UserID(channelKeyPrefix + string(c)) }

// ChannelOf returns the channel whose key id is, if it is one.
func ChannelOf(id UserID) (Channel, bool) {
	s, ok := strings.CutPrefix(string(id), channelKeyPrefix)
	return Channel(s), ok
}
