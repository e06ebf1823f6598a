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
//	{u:U}:m   HASH  last (the newest cursor), floor (entries ≤ floor are gone), unread, unseen
//	{u:U}:s   HASH  cursor → state: flags, append time, ':', expiry
//	{u:U}:e   HASH  cursor → entry: topic and notification (codec.go)
//	{u:U}:i   ZSET  notification ID, scored by its cursor
//	{u:U}:x   ZSET  cursor of an entry whose notification expires, scored by the expiry
//	{u:U}:t   ZSET  the user's topics (score 0)
//	{u:U}:p   HASH  the user's mutes ("t"+topic, "c"+category)
//	{t:T}:subs ZSET  the topic's subscribers (score 0)
//	{i:K}      HASH  idempotency record: id, n (entries), done, last (user), t (time)
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
// and would need reference counting.
//
// The meta hash keeps last after every entry is gone, so cursors never
// repeat. Retention by count trims in the append script (RetentionCount
// entries kept). Retention by age needs no sweep: every script treats
// entries older than RetentionAge (from their append time and the caller's
// clock) as trimmed already, and the append script deletes them; the state,
// entries, ID and expiry keys expire RetentionAge after the user's last
// append (by Redis's clock), when every entry is that old anyway, so idle
// users cost only their meta hash.
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
//     the delivery is whole or the final part.
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
