// Package limit bounds what one client can hold open or send: streams per
// user (SSE and gRPC together), connections per source address, and each
// service's notifications (token buckets). It counts on this node; with a
// Ledger (package redislimit) the streams count across a cluster's nodes,
// and redislimit.Rates keeps the buckets for all nodes.
//
// The stream and connection limits refuse the newcomer rather than evict an
// incumbent. Refusing is predictable: the client that went over the limit
// is the one told so, with 429 or RESOURCE_EXHAUSTED. Closing the oldest stream instead would let
// anyone holding a stolen token kick the owner off in a loop; and a client
// whose old connection is merely half-open gets its slot back on its own,
// when the next heartbeat write to that connection fails.
package limit
