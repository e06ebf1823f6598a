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
// Marks of read state go through the same writer, in a commit (with fsync)
// of their own: a mark queued behind appends waits for their group, so
// cursor assignment, trimming and marking of a user never interleave, and a
// mark never rewrites an entry that the same batch trims.
//
// # Layout
//
// Keys start with a one-byte kind. Integers in keys are big-endian so that
// byte order is numeric order; user IDs are length-prefixed (uvarint) so
// that no user's keys are a prefix of another's.
//
//	u <len><user> 0x00                 meta: last cursor, retention floor
//	u <len><user> 0x01 <cursor:8>      entry: read state, append time, notification ID, topic, expiry
//	n <id>                             notification body, stored once however many users it reaches
//	a <append time:8> <id>             body age index (retention by age)
//	x <expire time:8> <id>             body expiry index (purge of expired notifications)
//	i <idempotency key>                idempotency record: notification ID, recipients, time, complete or not, last user, content fingerprint
//	k <time:8> <idempotency key>       idempotency age index (purge after the window)
//	c <len><channel> 0x00              channel meta: last offset, floor (highest offset gone), first offset of the history
//	c <len><channel> 0x01 <offset:8>   channel event: append time, the notification's body
//	r                                  readiness probe: the time of the last probe
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
// # Channels
//
// A publish to channels joins the group commit like an append: its events
// get their offsets in the writer, are fsynced with the group, hidden
// from readers until then (durableBounds, under the channel's key) and
// handed to the commit hook with the group's entries. The writer keeps
// the retained events' offsets, times and notification IDs of recently
// used channels in memory (loaded with one scan of at most
// ChannelHistory keys), so that deduplication by ID, trimming by count
// and by age need no reads. Offsets are contiguous within a history; a
// history that emptied by age starts anew at store.ChannelEpoch or above.
// Append times never decrease along a channel, so the events older than
// ChannelHistoryAge are a prefix: readers treat them as gone at once, the
// next publish to the channel or the sweep deletes them, and the sweep
// deletes a channel whose events are all gone, meta record included.
// Each event holds its own copy of the body (channels.go says why).
//
// # Read state and counts
//
// An entry's value holds its read state (seen, read, archived flags) and a
// copy of its notification's expiry, so that listing, counting and marking
// tell expired entries apart without reading a body per entry. A mark
// rewrites the values of the entries it changes; selecting by notification
// ID scans the user's entries, which retention bounds (1000 by default).
//
// Unread and unseen counts are not stored: Counts, List and Mark count them
// by scanning the user's entries. Counters in the meta record would have to
// stay exact under trimming by count, which today deletes entries without
// reading them: it would cost a read of the trimmed entry (the user's
// oldest, the coldest data) on every append of a full inbox. And expiry
// would have to decrement the counters of every recipient of a
// notification when it expires, which bodies cannot do (they do not list
// their audience), so Counts would scan for expired entries anyway. A scan
// of a full inbox costs about 0.2 ms (BenchmarkCounts) and no allocation.
//
// # Fan-out in parts
//
// A notification to many users is appended in parts (store.Part). The first
// part writes the body and an idempotency record marked incomplete, with the
// last user it stored; each later part updates that record (last user,
// recipients so far), keeping the first part's time so that the record and
// its age index key agree; the final part marks it complete. A retry's
// first part (or whole delivery) that finds an incomplete record stores
// nothing and tells the caller where to resume. Whole deliveries write a
// complete record, as before.
//
// # Disk faults
//
// A commit that fails (a full disk, an I/O error from the WAL) leaves Pebble
// unable to commit again. The store then fails every write with
// ErrUnavailable, reports so through Ready, and the writer goroutine reopens
// the database in the background, with backoff (50 ms doubling to 5 s,
// jittered): it closes the broken database and opens it again, which replays
// the WAL. Acknowledged entries are never lost; a group whose commit failed
// after its WAL write may be there after the reopen, once (its callers were
// told it failed; a retry under the same idempotency key finds it). Reads go
// on through the fault: they hold the database open, so a swap waits for
// them (and they for it). Until the first attempt they read the broken
// database; from then on a read-only open of the directory, which replays
// the WAL into memory and writes nothing, while the writable database is
// opened beside it (on a full disk that open may not return before space
// comes back: Pebble retries the flush of the replayed WAL). The store holds
// the directory's lock throughout, so no other process takes it meanwhile.
// They see what was acknowledged, never the entries of a group that failed:
// those stay behind their durable bounds until a writable open succeeds (a
// mark or a subscription whose commit failed may show, as it does while it
// syncs; see writer.reopen). Reads fail with ErrUnavailable only when even
// the read-only open fails. Writes fail fast with ErrUnavailable until the
// writable reopen succeeds. Commits are serialized (commitBatch): Pebble
// keeps a batch whose WAL write failed in its commit queue, and any batch
// behind it would wait forever. While nothing failed, Ready commits a small
// synced probe at most once a second, so that a disk that stopped taking
// writes shows before a notification meets it. A failed sstable write (a
// flush or compaction) is retried by Pebble itself while commits go on in
// the WAL. Two failures remain fatal to Pebble and stop the process, as they
// would without this store: a failed MANIFEST write in the background, and a
// WAL that cannot be created when a full memtable rotates; a restart replays
// the WAL as after kill -9.
//
// # Encoding
//
// Values use a compact versioned binary encoding: a version byte, then
// varints and length-prefixed strings (see codec.go). Writers use the
// newest version of each value; readers accept every version a data
// directory may hold: entries of v1 (without read state or expiry) read as
// unseen, and find their expiry in their body until a mark rewrites them
// as v2; idempotency records of v1 read as complete, those of v1 and v2
// without a fingerprint, which matches any notification. Decoded bodies do not
// carry the audience (Users, Topics) nor the idempotency key: replay needs
// only what the client sees.
package embedded
