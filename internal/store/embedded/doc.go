// Package embedded is Herald's default store: durable per-user inboxes on
// local disk, in a Pebble database (./data by default).
//
// # Writes
//
// Every Append goes through one writer goroutine. The writer takes all
// pending requests (up to Options.MaxBatch entries), gives each entry the
// next cursor of its user, writes the entries, the notification bodies, the
// idempotency records and the users' meta records into one Pebble batch,
// commits it with fsync, hands the entries to the commit hook and only then
// acknowledges the callers. One fsync is shared by the whole group, and
// because there is only one writer, entries become visible and are published
// in cursor order per user: no concurrent commit can publish cursor 6 before
// cursor 5. Retention sweeps run in the same goroutine, in small chunks
// between groups, so they never race with cursor assignment.
//
// # Layout
//
// Keys start with a one-byte kind. Integers in keys are big-endian so that
// byte order is numeric order; user IDs are length-prefixed (uvarint) so
// that no user's keys are a prefix of another's.
//
//	u <len><user> 0x00                 meta: last cursor, retention floor
//	u <len><user> 0x01 <cursor:8>      entry: append time, notification ID, topic
//	n <id>                             notification body, stored once however many users it reaches
//	a <append time:8> <id>             body age index (retention by age)
//	x <expire time:8> <id>             body expiry index (purge of expired notifications)
//	i <idempotency key>                idempotency record: notification ID, recipients, time
//	k <time:8> <idempotency key>       idempotency age index (purge after the window)
//
// The meta record sits just before the user's entries, so one iterator reads
// a consistent view of both. A user's entries are always the contiguous
// range (floor, last]: retention removes prefixes only, and an expired
// notification loses its body but keeps its entries (Read skips them) until
// retention reaches them. Trimming by count therefore needs no reads, and
// cursors never repeat, because the meta record keeps the last cursor even
// when every entry was trimmed.
//
// A body is shared by all its entries, so trimming one user by count does not
// delete it; bodies are deleted by age (with the entries of that age) or
// when the notification expires. Reference counting would cost a read per
// trimmed entry on the hot path. Notification IDs are assumed unique (ingest
// generates them): deliveries that reuse an ID share one body, which ages out
// with the oldest of them.
//
// Values use a compact versioned binary encoding: a version byte, then
// varints and length-prefixed strings (see codec.go). Decoded bodies do not
// carry the audience (Users, Topics) nor the idempotency key: replay needs
// only what the client sees.
package embedded
