// Package resume is the engine under every stream, whatever its transport:
// a stream subscribes to its sources, waits until it is live, replays what
// the client missed, answers a cursor past retention with a reset, and then
// forwards live entries with gap fill and without duplicates, heartbeats
// when idle, ends at the token's expiry or at shutdown, and counts itself in
// the herald_stream_* metrics. The per-user stream limit and shutdown's drain
// are the Engine's.
//
// A stream merges several sources, each an ordered sequence under its own
// key: the user's inbox and the channels it listens to. Each is replayed,
// reset and gap-filled on its own, and the stream's cursor (Position) holds
// every source's position, so that one Last-Event-ID resumes them all.
//
// A transport (sse, rpc) brings a Sink, which turns batches of entries and
// control events into its own frames; the engine never knows the wire.
package resume
