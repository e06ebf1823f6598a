import type { Api } from "./api.js";
import { Emitter } from "./emitter.js";
import type { InboxCounts, InboxEntry, InboxEvent, MarkAction, MarkRequest, Priority, StreamEvent, StreamNotification } from "./types.js";

/** What an InboxStore shows; a new object after every change. */
export interface InboxSnapshot {
  /** Loaded entries, newest first, archived ones left out; pending marks already applied. */
  readonly entries: readonly InboxEntry[];
  /** Unread and unseen entries of the whole inbox, not only of those loaded. */
  readonly counts: InboxCounts;
  readonly status: "idle" | "loading" | "ready" | "error";
  /** Why the last load or loadMore failed. */
  readonly error: Error | undefined;
  /** There are older entries for loadMore. */
  readonly hasMore: boolean;
  readonly loadingMore: boolean;
  /** The first page's stream cursor: open the stream after it to miss nothing. */
  readonly streamCursor: string;
}

/** Where the store hears stream events from: a HeraldStream or a SharedStream. */
export interface StreamEventSource {
  on(listener: (event: StreamEvent) => void): () => void;
}

/** How tabs tell each other about their marks: a SharedStream. */
export interface PeerLink {
  broadcast(data: unknown): void;
  onPeer(listener: (data: unknown) => void): () => void;
}

export interface InboxStoreOptions {
  api: Api;
  /** Keeps the store current: new entries, counts, resets. */
  stream?: StreamEventSource;
  /** Passes marks to the other tabs, so that their lists show them too. */
  peers?: PeerLink;
  /** Entries per page (the server's default, 50, when unset). */
  pageSize?: number;
}

/** A mark waiting for the server: applied to the snapshot, undone if it fails. */
interface Mark {
  action: MarkAction;
  ids?: ReadonlySet<string>;
  /** Every entry up to this inbox cursor. */
  upTo?: string;
}

/** A mark another tab made, as it passes it on. */
interface PeerMark {
  herald: "mark";
  action: MarkAction;
  ids?: string[];
  upTo?: string;
}

const zero: InboxCounts = { unread: 0, unseen: 0 };

/**
 * InboxStore holds the user's inbox as a page shows it: the first page and
 * any older pages loaded, the unread and unseen counts, and marks. It
 * follows a stream: a new entry is added at the top and counted (unless the
 * store already has it: a stream that resumes may repeat what the first
 * page held), `read` events set the counts, and `reset` refetches the first
 * page. Marks are optimistic: the snapshot shows them at once, and a mark
 * the server refuses is undone.
 *
 * Framework-free: subscribe(listener) and getSnapshot() fit React's
 * useSyncExternalStore as they are, and anything else that can call a
 * function on change.
 */
export class InboxStore {
  private readonly changes = new Emitter<void>();
  private readonly api: Api;
  private readonly pageSize: number | undefined;
  private readonly peers: PeerLink | undefined;
  /** What the server confirmed, newest first, archived entries included. */
  private entries: InboxEntry[] = [];
  private counts: InboxCounts = zero;
  private pending: Mark[] = [];
  /** Counts a `read` event brought while marks were pending. */
  private deferredCounts: InboxCounts | undefined;
  private cursor = "";
  private nextPageToken = "";
  private status: InboxSnapshot["status"] = "idle";
  private error: Error | undefined;
  private loadingMore = false;
  private loadGen = 0;
  /** Stream events that came while the first page was loading. */
  private early: StreamEvent[] = [];
  private snapshot: InboxSnapshot;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(opts: InboxStoreOptions) {
    this.api = opts.api;
    this.pageSize = opts.pageSize;
    this.peers = opts.peers;
    this.snapshot = this.build();
    if (opts.stream) this.unsubscribe.push(opts.stream.on((ev) => this.apply(ev)));
    if (opts.peers) this.unsubscribe.push(opts.peers.onPeer((d) => this.peerMark(d)));
  }

  /** Calls listener after every change; returns a function that stops it. */
  subscribe = (listener: () => void): (() => void) => this.changes.on(listener);

  /** The current state: the same object until the next change. */
  getSnapshot = (): InboxSnapshot => this.snapshot;

  /** Stops following the stream and the other tabs. */
  dispose(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /**
   * Fetches the first page (again), replacing what was loaded; the counts
   * come with it. Resolves when done; on failure the snapshot's status is
   * "error" and the promise rejects.
   */
  async load(): Promise<void> {
    const gen = ++this.loadGen;
    this.status = "loading";
    this.error = undefined;
    this.changed();
    try {
      const page = await this.api.listInbox({ pageSize: this.pageSize });
      if (gen !== this.loadGen) return;
      this.entries = sorted(page.entries ?? []);
      this.counts = page.counts ?? zero;
      this.cursor = page.stream_cursor ?? "";
      this.nextPageToken = page.next_page_token ?? "";
      this.status = "ready";
      this.loadingMore = false;
      const early = this.early.splice(0);
      for (const ev of early) this.apply(ev);
      this.changed();
    } catch (err) {
      if (gen !== this.loadGen) return;
      this.status = "error";
      this.error = asError(err);
      this.changed();
      throw err;
    }
  }

  /** Fetches the next older page; does nothing while one is loading or when none is left. */
  async loadMore(): Promise<void> {
    if (this.status !== "ready" || this.loadingMore || this.nextPageToken === "") return;
    const gen = this.loadGen;
    this.loadingMore = true;
    this.error = undefined;
    this.changed();
    try {
      const page = await this.api.listInbox({ pageSize: this.pageSize, pageToken: this.nextPageToken });
      if (gen !== this.loadGen) return;
      const known = new Set(this.entries.map((e) => e.event.id));
      this.entries = sorted([...this.entries, ...(page.entries ?? []).filter((e) => !known.has(e.event.id))]);
      this.nextPageToken = page.next_page_token ?? "";
      if (page.counts && this.pending.length === 0) this.counts = page.counts;
    } catch (err) {
      if (gen !== this.loadGen) return;
      this.error = asError(err);
      throw err;
    } finally {
      if (gen === this.loadGen) {
        this.loadingMore = false;
        this.changed();
      }
    }
  }

  markSeen(ids: string | string[]): Promise<void> {
    return this.mark("MARK_ACTION_SEEN", ids);
  }

  markRead(ids: string | string[]): Promise<void> {
    return this.mark("MARK_ACTION_READ", ids);
  }

  markUnread(ids: string | string[]): Promise<void> {
    return this.mark("MARK_ACTION_UNREAD", ids);
  }

  /** Archives entries: they leave the list and the counts. */
  archive(ids: string | string[]): Promise<void> {
    return this.mark("MARK_ACTION_ARCHIVE", ids);
  }

  /** Marks every entry up to the newest one the store knows as read, loaded or not. */
  markAllRead(): Promise<void> {
    return this.markAll("MARK_ACTION_READ");
  }

  /** Marks every entry up to the newest one the store knows as seen (opening the bell's list). */
  markAllSeen(): Promise<void> {
    return this.markAll("MARK_ACTION_SEEN");
  }

  private markAll(action: MarkAction): Promise<void> {
    const upTo = this.newestCursor();
    if (upTo === "") return Promise.resolve();
    return this.send({ action, upTo }, { action, up_to_cursor: upTo });
  }

  private mark(action: MarkAction, ids: string | string[]): Promise<void> {
    const list = typeof ids === "string" ? [ids] : [...new Set(ids)];
    if (list.length === 0) return Promise.resolve();
    return this.send({ action, ids: new Set(list) }, { action, ids: list });
  }

  private async send(m: Mark, req: MarkRequest): Promise<void> {
    this.pending.push(m);
    this.changed();
    try {
      const res = await this.api.mark(req);
      this.settle(m);
      const [entries, counts] = applyMark(this.entries, this.counts, m);
      this.entries = entries;
      // The answer's counts are the server's after this mark; with other
      // marks still pending they would hide those, so they wait.
      this.counts = this.pending.length === 0 && res.counts ? res.counts : counts;
      const peer: PeerMark = { herald: "mark", action: m.action };
      if (m.ids) peer.ids = [...m.ids];
      if (m.upTo) peer.upTo = m.upTo;
      this.peers?.broadcast(peer);
    } catch (err) {
      this.settle(m);
      throw err;
    } finally {
      this.changed();
    }
  }

  /** Removes m from the pending marks; the last one to go lets deferred counts in. */
  private settle(m: Mark): void {
    this.pending = this.pending.filter((p) => p !== m);
    if (this.pending.length === 0 && this.deferredCounts) {
      this.counts = this.deferredCounts;
      this.deferredCounts = undefined;
    }
  }

  private peerMark(d: unknown): void {
    const p = d as Partial<PeerMark> | null;
    if (!p || p.herald !== "mark" || typeof p.action !== "string") return;
    const m: Mark = { action: p.action };
    if (Array.isArray(p.ids)) m.ids = new Set(p.ids);
    if (typeof p.upTo === "string") m.upTo = p.upTo;
    // The entries change; the counts come with the `read` event the
    // server sends for that mark.
    this.entries = applyMark(this.entries, this.counts, m)[0];
    this.changed();
  }

  /** Applies one stream event. */
  apply(ev: StreamEvent): void {
    if (this.status !== "ready") {
      // Before the first page: wait for it, it decides what is new.
      if (this.status === "loading" && this.early.length < 1000) this.early.push(ev);
      return;
    }
    switch (ev.kind) {
      case "read":
        if (this.pending.length > 0) this.deferredCounts = ev.counts;
        else this.counts = ev.counts;
        this.changed();
        return;
      case "reset":
        if (ev.channel) return; // a channel's history, not the inbox
        this.load().catch(() => {}); // the snapshot shows the error
        return;
      case "notification":
        this.add(ev.notification, ev.cursor);
    }
  }

  private add(n: StreamNotification, streamCursor: string): void {
    if (n.channel) return; // channel events are not inbox entries
    // A stream cursor is the inbox cursor, then `_`-separated channel
    // offsets when the stream has channels.
    const cursor = streamCursor.split("_")[0] ?? "";
    if (cursor === "" || (this.cursor !== "" && compareCursors(cursor, this.cursor) <= 0)) return;
    if (this.entries.some((e) => e.event.id === n.id)) return;
    const entry: InboxEntry = { event: toInboxEvent(n, cursor), seen: false, read: false, archived: false };
    this.entries = sorted([entry, ...this.entries]);
    this.counts = { unread: this.counts.unread + 1, unseen: this.counts.unseen + 1 };
    this.changed();
  }

  private newestCursor(): string {
    let c = this.cursor;
    for (const e of this.entries) if (c === "" || compareCursors(e.event.cursor, c) > 0) c = e.event.cursor;
    return c;
  }

  private changed(): void {
    this.snapshot = this.build();
    this.changes.emit();
  }

  private build(): InboxSnapshot {
    let entries = this.entries;
    let counts = this.counts;
    for (const m of this.pending) [entries, counts] = applyMark(entries, counts, m);
    return {
      entries: entries.filter((e) => !e.archived),
      counts,
      status: this.status,
      error: this.error,
      hasMore: this.nextPageToken !== "",
      loadingMore: this.loadingMore,
      streamCursor: this.cursor,
    };
  }
}

/**
 * applyMark returns entries and counts after mark m, as the server would
 * change them: READ implies seen; archived entries count in neither.
 * Entries that are not loaded count too when m goes up to a cursor: then
 * only the loaded ones newer than it keep counting.
 */
export function applyMark(entries: InboxEntry[], counts: InboxCounts, m: Mark): [InboxEntry[], InboxCounts] {
  let { unread, unseen } = counts;
  const hits = (e: InboxEntry) => (m.ids ? m.ids.has(e.event.id) : m.upTo !== undefined && compareCursors(e.event.cursor, m.upTo) <= 0);
  const out = entries.map((e) => {
    if (!hits(e)) return e;
    const n = { ...e };
    const live = !e.archived;
    switch (m.action) {
      case "MARK_ACTION_READ":
        n.read = n.seen = true;
        if (live && !e.read) unread--;
        if (live && !e.seen) unseen--;
        break;
      case "MARK_ACTION_SEEN":
        n.seen = true;
        if (live && !e.seen) unseen--;
        break;
      case "MARK_ACTION_UNREAD":
        n.read = false;
        if (live && e.read) unread++;
        break;
      case "MARK_ACTION_ARCHIVE":
        n.archived = true;
        if (live && !e.read) unread--;
        if (live && !e.seen) unseen--;
        break;
      case "MARK_ACTION_UNARCHIVE":
        n.archived = false;
        if (!live && !e.read) unread++;
        if (!live && !e.seen) unseen++;
        break;
    }
    return n;
  });
  if (m.upTo !== undefined && (m.action === "MARK_ACTION_READ" || m.action === "MARK_ACTION_SEEN")) {
    // Every entry up to the cursor, loaded or not: what still counts is
    // what is newer than it.
    const newer = entries.filter((e) => !e.archived && compareCursors(e.event.cursor, m.upTo!) > 0);
    unseen = newer.filter((e) => !e.seen).length;
    if (m.action === "MARK_ACTION_READ") unread = newer.filter((e) => !e.read).length;
  }
  return [out, { unread: Math.max(0, unread), unseen: Math.max(0, unseen) }];
}

/** Orders two inbox cursors (unsigned decimal integers) numerically. */
export function compareCursors(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function sorted(entries: InboxEntry[]): InboxEntry[] {
  return [...entries].sort((x, y) => compareCursors(y.event.cursor, x.event.cursor));
}

/** An inbox event from a stream notification: the REST API's spelling of the same fields. */
export function toInboxEvent(n: StreamNotification, cursor: string): InboxEvent {
  return {
    id: n.id,
    cursor,
    type: n.type || "notification",
    title: n.title ?? "",
    body: n.body ?? "",
    data: n.data ?? null,
    topic: n.topic ?? "",
    category: n.category ?? "",
    priority: n.priority ? (("PRIORITY_" + n.priority.toUpperCase()) as Priority) : "PRIORITY_UNSPECIFIED",
    create_time: n.created_at,
    expire_time: n.expires_at ?? null,
    channel: "",
  };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
