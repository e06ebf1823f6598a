// Package redisstore is the Redis backend of store.Store, for running
// several Herald nodes on one shared store (a single Redis or a Redis
// Cluster). Its semantics are the embedded store's; store/storetest checks
// both.
//
// # Layout
//
// Every key starts with Options.Prefix. All keys of one user share the hash
// tag {u:<user>} (the user ID in unpadded base64url, since IDs may hold
// '{', '}' and ':'), so that one Lua script may touch them all, atomically,
// in Redis Cluster too:
//
//	{u:U}:m   HASH  last (the newest cursor), floor (entries ≤ floor are deleted), unread, unseen,
//	                and what spares the append script work (below): w, d, t, r, o, x
//	{u:U}:s   HASH  cursor → state: flags, append time, ':', expiry
//	{u:U}:e   HASH  cursor → entry: topic and notification (codec.go)
//	{u:U}:i   ZSET  notification ID, scored by its cursor
//	{u:U}:x   ZSET  cursor of an entry whose notification expires, scored by the expiry
//	{u:U}:t   ZSET  the user's topics (score 0)
//	{u:U}:p   HASH  the user's mutes ("t"+topic, "c"+category)
//	{t:T}:subs ZSET  the topic's subscribers (score 0)
//	{i:K}      HASH  idempotency record: id, n (entries), done, last (user), t (time), f (fingerprint)
//	{c:C}:m   HASH  channel meta: last, floor (highest offset gone), first (of the history), t (newest event's time), r (TTL refresh)
//	{c:C}:e   STREAM channel events: ID "<offset>-0", fields t (append time), n (notification)
//	{c:C}:i   ZSET  notification ID, scored by its offset
//
// That is inbox layout v1. In layout v2 (layout.go, the default for new
// inboxes) a user's inbox is its entries hash alone, beside the bodies:
//
//	{u:U}:m   HASH  b: a bound at or above every cursor given out (no TTL)
//	{u:U}:e   HASH  cursor → entry, "s"+cursor → state and ':'+ID, "i"+ID → cursor,
//	                last, floor, nu (not unread), ns (not unseen), d, t, x, r, o, b
//	{u:U}:x   ZSET  as in v1
//
// so that an append's fast path is an HMGET and an HSET of {u:U}:e. Every
// script reads both layouts; the rest of this comment says v1's terms,
// which v2 keeps (layout.go says where it differs).
//
// No command names keys of two tags: every script's KEYS are one user's or
// one record (scripts.go lists them), transactions touch one key, and the
// tests check every script call and transaction with the cluster's CRC16
// slot rule.
//
// # Inbox
//
// Cursors come from a per-user counter, so they are contiguous (1, 2, 3…)
// and a user's entries are always the range (floor, last]: retention
// removes prefixes only. Entries are hashes keyed by cursor rather than a
// stream or a sorted set: reads, pages and trims address known cursors
// (HMGET, HDEL of computed fields, no search), and a mark rewrites one
// field in place, which a stream's immutable entries cannot do. The small
// state hash is apart from the entries hash so that scripts looking at
// many entries (filtered pages, marks up to a cursor, trims) never load
// notification bodies. Each entry holds its own copy of the notification:
// a shared body key would sit in another slot, out of the script's reach,
// so reads would need a second command for it.
//
// The meta hash keeps last after every entry is gone, so cursors never
// repeat. Retention removes what every script hides at once and what the
// append script deletes later, in batches: each script computes the
// effective floor (view, scripts.go) from the stored one, the newest
// RetentionCount entries (so no client ever sees more), and the entries'
// append times (those older than RetentionAge, by the caller's clock, are
// gone, up to the first younger one). The append script deletes the
// hidden entries once slack of them lie below the floor by count
// (RetentionCount/8, within 8..32, so that small inboxes batch too and
// readers, who correct the counters for the hidden entries' flags, read
// few of them), or once the oldest stored entry is older than the cutoff
// by RetentionAge/32. Deleting is then a few calls per batch rather than
// six per append; a hidden entry's notification ID still answers a
// duplicate until then.
//
// The state, entries, ID and expiry keys have a TTL, so that idle users
// cost only their meta hash: RetentionAge+RetentionAge/8, refreshed by an
// append when the last refresh (r, by the store's clock) is RetentionAge/16
// old, rather than four PEXPIREs on every append. The keys so outlive the
// newest entry by RetentionAge, with RetentionAge/16 to spare for clocks
// that disagree. Keys that expired took every entry with them; scripts
// check that they still exist only when they may not: readers once r is
// RetentionAge old, appends when the refresh is due.
// An append that makes the expiry index between two refreshes gives it
// the TTL at once.
//
// The meta hash's other fields spare the append script calls; each may be
// missing, which only costs the calls it spares. o is the oldest stored
// entry's append time; x the earliest expiry in the expiry index (at most;
// 0 for none), so that settling expiries waits until one is due; d the
// earliest time an append has more to do than append (the next refresh,
// expiry or age trim); t the cursor at which the count trim is due; w the
// last cursor as this format wrote it. An append of one entry without
// expiry, before d and t, with w equal to last, takes a fast path of five
// calls (HMGET and HSET of the meta, ZADD NX of the ID, HSET of state and
// entry); any other runs the slow path, which does what is due and sets d
// and t again. The fast path compares cursors and times as strings where
// it can: in Lua, a number conversion costs as much as a cheap call.
//
// Upgrading: inboxes written before these fields are read as they are (no
// field is required; the slow path fills them in). During a rolling
// upgrade, appends of both formats may interleave: a former node trims at
// once (which the new floor fields follow), refreshes the TTLs to the bare
// RetentionAge on every append (w then differs from last, so the next new
// append refreshes them again, and relearns o and x), and settles all due
// expiries. Its readers ignore the count floor, so until every node is
// upgraded they may show up to slack entries beyond RetentionCount, with
// counts that include them; marks stay exact. A former node's append of
// duplicates only, which leaves last as it was, still shortens the TTLs
// unseen: such an inbox, idle afterwards, may expire RetentionAge/8 early.
//
// Unlike the embedded store, which counts by scanning (a cheap local
// read), this one keeps unread and unseen counters in the meta hash: a
// scan of a full inbox in Lua takes milliseconds of the single-threaded
// Redis that every node shares. Writing scripts keep the counters exact
// (appends, marks by delta, trims by the trimmed entries' flags, and
// expiries, settled from the expiry index into an "uncounted" flag);
// reading scripts correct them for the entries that aged or expired since
// the last write, which are few. List then reads only down to its page's
// end, and a mark by ID only the entries it names; a mark up to a cursor
// reads the entries up to it.
//
// # Channels
//
// A Publish joins the writer's group like an Append: one script per
// channel and group (publishScript), pipelined with the group's appends,
// with WAIT when WaitReplicas is set, and the new events to the hook. The
// script dedupes by notification ID within the retained history, takes
// the next offset (a history that emptied by age, or whose keys expired,
// starts at store.ChannelEpoch or above), appends, trims to
// ChannelHistory by offset (XTRIM MINID, ZREMRANGEBYSCORE: nothing read)
// and refreshes the TTLs every age/16. Events older than the age are
// gone for readers at once; they go from Redis with the count trim or the
// keys' TTL. Reads are a MULTI of HMGET and XRANGE. channels.go says why
// a stream; BenchmarkRedisChannelCPU measures about 18 µs of Redis CPU
// per event and 1.4 KB per event of a full channel with 1 KB bodies.
//
// # Appends and idempotency
//
// One writer goroutine takes every pending Append (up to MaxBatch entries)
// as a group, like the embedded store's: each step of a group is one
// pipeline across users, and because only it writes, entries reach the
// commit hook in cursor order per user. One group is in flight at a time;
// groups grow with the load, so that callers share round trips. Entries
// another node appends to the same user leave gaps in this node's order,
// which streams fill by reading the store.
//
// Redis Cluster has no transaction across slots, so idempotency is made of
// steps that each may be repeated:
//
//  1. A whole delivery or first part with a key claims its record (a
//     script: create it, incomplete, unless a live record exists). A
//     complete record makes the delivery a Duplicate; an incomplete one,
//     Incomplete with the record's last user (none for a whole delivery:
//     the caller resumes from the start).
//  2. Each user's entries are appended by one script that is idempotent by
//     notification ID: an ID already in the user's ID index returns its
//     cursor instead of appending, so a resumed fan-out adds nothing where
//     the crashed attempt got to. The index is trimmed with the entries.
//     (Notification IDs are unique, as ingest makes them: one ID appended
//     twice to a user is stored once, with or without a key.)
//  3. The record is settled: entries added, last user set, complete when
//     the delivery is whole or the final part. A record this group's
//     claim made is written whole (HSET of its six fields and PEXPIRE:
//     two plain commands, no script); only later parts, and deliveries
//     that resumed a record, run the settle script, which adds to what is
//     there.
//
// The requests of a group fail one by one: a request fails when one of its
// calls failed (its users' master down, or short of replicas under
// WaitReplicas) and takes no further step; the others complete. In a
// cluster, a master in trouble thus holds up only the calls that write to
// it.
//
// A crash (or an error) between the steps leaves the record incomplete, and
// the sender's retry resumes under the first attempt's ID without
// duplicates; a delivery's count includes the entries a crashed attempt
// stored for its users, so the parts still add up. An Append that fails
// returns notify.ErrUnavailable, but the users it reached keep their
// entries (they are handed to the hook, too): without an idempotency key,
// a retry duplicates them. Attempts of one key racing on two nodes may
// both see the record incomplete; both then resume, and the ID index keeps
// the entries single. (A settle that the client itself repeats after a
// lost reply counts its entries twice in the record: only Recipients of a
// later Duplicate is off then.)
//
// Scripts run with EVALSHA; a pipeline whose scripts Redis does not know
// (it restarted without persistence) runs them again with EVAL, which is
// safe because NOSCRIPT ran nothing.
package redisstore
