// Wire types, spelled as Herald sends them. The REST API (grpc-gateway) uses
// the proto field names (snake_case) and writes every field, set or not;
// the stream's `data:` is a smaller JSON object of its own.

/** A priority as the REST API spells it (`herald.v1.Priority`). */
export type Priority =
  | "PRIORITY_UNSPECIFIED"
  | "PRIORITY_LOW"
  | "PRIORITY_NORMAL"
  | "PRIORITY_HIGH"
  | "PRIORITY_CRITICAL";

/** A JSON value, as a notification's `data` holds. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** A notification as `GET /v1/inbox` returns it (`herald.v1.Event`). */
export interface InboxEvent {
  id: string;
  /** The entry's inbox cursor (decimal digits). */
  cursor: string;
  type: string;
  title: string;
  body: string;
  data: { [key: string]: JSONValue } | null;
  topic: string;
  category: string;
  priority: Priority;
  /** RFC 3339. */
  create_time: string;
  /** RFC 3339, or null when the notification does not expire. */
  expire_time: string | null;
  /** Empty for inbox entries. */
  channel: string;
}

/** One inbox entry and its state (`herald.v1.InboxEntry`). */
export interface InboxEntry {
  event: InboxEvent;
  seen: boolean;
  read: boolean;
  archived: boolean;
}

/** Unread and unseen entries (archived and expired ones count in neither). */
export interface InboxCounts {
  unread: number;
  unseen: number;
}

/** `herald.v1.ArchiveFilter`. */
export type ArchiveFilter =
  | "ARCHIVE_FILTER_UNSPECIFIED"
  | "ARCHIVE_FILTER_EXCLUDE"
  | "ARCHIVE_FILTER_ONLY"
  | "ARCHIVE_FILTER_INCLUDE";

/** The body of `GET /v1/inbox`. */
export interface ListInboxResponse {
  entries: InboxEntry[];
  /** Empty on the last page. */
  next_page_token: string;
  /** Open the stream from here to miss nothing after this page. */
  stream_cursor: string;
  counts: InboxCounts | null;
}

/** `herald.v1.MarkAction`. */
export type MarkAction =
  | "MARK_ACTION_SEEN"
  | "MARK_ACTION_READ"
  | "MARK_ACTION_UNREAD"
  | "MARK_ACTION_ARCHIVE"
  | "MARK_ACTION_UNARCHIVE";

/** The body of `POST /v1/inbox:mark`: exactly one of `ids` and `up_to_cursor`. */
export type MarkRequest =
  | { action: MarkAction; ids: string[]; up_to_cursor?: never }
  | { action: MarkAction; up_to_cursor: string; ids?: never };

/** The answer of `POST /v1/inbox:mark`. */
export interface MarkResponse {
  changed: number;
  counts: InboxCounts | null;
}

/**
 * A notification as the stream's `data:` carries it. Optional fields are
 * left out when empty; `priority` is lower case.
 */
export interface StreamNotification {
  id: string;
  type: string;
  title: string;
  body?: string;
  data?: { [key: string]: JSONValue };
  topic?: string;
  category?: string;
  priority?: "low" | "normal" | "high" | "critical";
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339. */
  expires_at?: string;
  /** Set on a live channel's events. */
  channel?: string;
}

/**
 * What a stream delivers to its listeners, and what the leader tab passes
 * on to the others: plain data, so it survives structured cloning.
 */
export type StreamEvent =
  | {
      kind: "notification";
      /** The stream cursor after this event (the SSE `id:`): opaque. */
      cursor: string;
      /** The SSE event name: the notification's type, or "message" with `events: "message"`. */
      event: string;
      notification: StreamNotification;
    }
  | {
      /** Counts changed (an entry was marked, here or elsewhere): they are authoritative. */
      kind: "read";
      counts: InboxCounts;
    }
  | {
      /**
       * The resume cursor is older than what the server keeps: refetch
       * (the inbox, or the named channel's history). The stream goes on
       * live after `cursor`.
       */
      kind: "reset";
      cursor: string;
      reason: string;
      channel?: string;
    }
  | {
      /**
       * The server said why the connection ends: `token-expired` (the
       * stream reconnects at once with a fresh token) or `shutdown` (the
       * server is stopping; the stream comes back after its `retry:`).
       * Nothing to do: for showing, or logging.
       */
      kind: "control";
      event: "token-expired" | "shutdown";
    };

/** Where a stream is in its life. */
export type StreamState =
  | "idle" // not started
  | "connecting"
  | "open"
  | "waiting" // between two connections
  | "paused" // the page is hidden
  | "following" // another tab holds the stream and passes its events on
  | "closed"; // stopped, or refused for good (see error)

/** A stream's state and why it is there. */
export interface StreamStatus {
  state: StreamState;
  /** The last error, if the state follows one. */
  error?: Error;
  /** With "waiting": milliseconds until the next attempt. */
  retryIn?: number;
  /** With "following": the state of the leader tab's stream. */
  leader?: StreamState;
}
