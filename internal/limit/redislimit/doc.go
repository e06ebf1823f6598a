// Package redislimit shares Herald's limits between the nodes of a cluster
// through Redis: each service's notification rate (Rates) and each user's
// open streams (Leases, a limit.Ledger), which also answer who is online
// (Leases.Presence). On one node, or with the embedded
// store, package limit keeps them on the node alone.
//
// # Keys
//
// Every key starts with the deployment's prefix and carries a hash tag, so
// that each check touches one slot of a Redis Cluster:
//
//	rate:{s:S}         STRING  the GCRA state of service S (redis_rate's "theoretical arrival time")
//	{u:U}:streams      ZSET    the open streams of user U, "<node>:<n>" scored by lease expiry (ms, Redis's clock)
//	{u:U}:seen         STRING  when user U was last seen (Unix ms, Redis's clock): a stream's end or a lease refresh
//
// S and U are unpadded base64url, as in the store: names may hold '{', '}'
// and ':'. A user's stream key has the tag of the user's inbox keys, in
// the same slot.
//
// # When Redis does not answer
//
// Every check waits for Redis at most Options.Timeout (200 ms by default)
// and then fails open: the node decides alone, by its own count (limit.Rates
// for rates, limit.Streams' local count for streams), and counts the
// decision in herald_limit_fail_open_total{limit}. For the second after a
// failure the node does not ask Redis at all, so that a slow Redis adds its
// delay to one call, not to every call. Failing open is the right side
// here: a node that cannot reach Redis cannot store either, so what it
// lets through is little, while refusing would turn a slow limiter into an
// outage; and a node's own limits still hold meanwhile.
package redislimit
