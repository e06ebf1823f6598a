package redisstore

import (
	"encoding/base64"

	"github.com/heraldhq/herald/internal/notify"
)

// Keys put everything of one user under one hash tag, {u:<enc(user)>}, so
// that a script may touch all of them in Redis Cluster. enc is unpadded
// base64url: user IDs and topics may hold '{', '}' and ':', which would
// move the tag or blur the separators.
func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// userKeys are the keys of one user, all in one hash slot.
type userKeys struct {
	meta     string // HASH last, floor
	state    string // HASH cursor → flags, append time, expiry
	entries  string // HASH cursor → topic and notification (entry codec)
	ids      string // ZSET notification ID, scored by its cursor
	expiring string // ZSET cursor of an entry, scored by its expiry
	topics   string // ZSET (score 0) of the user's topics
	prefs    string // HASH "t"+topic / "c"+category → ""
}

func (s *Store) userKeys(user notify.UserID) userKeys {
	tag := s.opts.Prefix + "{u:" + enc(string(user)) + "}:"
	return userKeys{
		meta:     tag + "m",
		state:    tag + "s",
		entries:  tag + "e",
		ids:      tag + "i",
		expiring: tag + "x",
		topics:   tag + "t",
		prefs:    tag + "p",
	}
}

// inbox lists the keys every inbox script takes, in their KEYS order.
func (k userKeys) inbox() []string { return []string{k.meta, k.state, k.entries, k.ids, k.expiring} }

// inboxV2 lists the keys of appendV2Script: a v2 inbox has no state hash
// or ID index.
func (k userKeys) inboxV2() []string { return []string{k.meta, k.entries, k.expiring} }

// chanKeys are the keys of one channel, all under its own hash tag
// {c:<enc(channel)>}, so that one script appends to it in Redis Cluster.
type chanKeys struct {
	meta   string // HASH last, floor, first, t (newest event's time), r (last TTL refresh)
	events string // STREAM offset-0 → t (append time), n (notification)
	ids    string // ZSET notification ID, scored by its offset
}

func (s *Store) chanKeys(ch notify.Channel) chanKeys {
	tag := s.opts.Prefix + "{c:" + enc(string(ch)) + "}:"
	return chanKeys{meta: tag + "m", events: tag + "e", ids: tag + "i"}
}

func (k chanKeys) all() []string { return []string{k.meta, k.events, k.ids} }

// idemKey is an idempotency record, in a slot of its own.
func (s *Store) idemKey(key string) string {
	return s.opts.Prefix + "{i:" + enc(key) + "}"
}

// subsKey is a topic's subscribers (ZSET, score 0, paged by ZRANGEBYLEX).
func (s *Store) subsKey(topic notify.Topic) string {
	return s.opts.Prefix + "{t:" + enc(string(topic)) + "}:subs"
}
