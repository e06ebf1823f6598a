// @heraldhq/client: a browser client for Herald's inbox and stream.
export { createHeraldClient, type HeraldClient, type HeraldClientOptions } from "./client.js";
export { InboxStore, type InboxSnapshot, type InboxStoreOptions, type PeerLink, type StreamEventSource } from "./inbox.js";
export { HeraldStream, type StreamOptions } from "./stream.js";
export { SharedStream, type SharedStreamOptions } from "./shared.js";
export { Api, HeraldError, type ApiOptions, type FetchLike, type ListInboxParams, type StreamTicket } from "./api.js";
export { TokenSource, type GetToken } from "./token.js";
export { EventStreamParser, type SSEMessage } from "./sse.js";
export { browserTabs, channelElection, lockElection, type Election, type TabChannel, type TabEnvironment, type TabLocks } from "./tabs.js";
export type { VisibilitySource } from "./visibility.js";
export type * from "./types.js";
