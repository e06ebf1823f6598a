import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Api } from "../src/api.js";
import { createHeraldClient } from "../src/client.js";
import { Emitter } from "../src/emitter.js";
import { InboxStore, applyMark, compareCursors, toInboxEvent } from "../src/inbox.js";
import { TokenSource } from "../src/token.js";
import type { InboxEntry, ListInboxResponse, StreamEvent, StreamNotification } from "../src/types.js";
import { fakeServer, flush, json, note, tokens, type Call } from "./helpers.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function entry(cursor: number, state: Partial<InboxEntry> = {}): InboxEntry {
  const n: StreamNotification = { id: "n" + cursor, type: "notification", title: "T" + cursor, priority: "normal", created_at: "2026-01-02T03:04:05Z" };
  return { event: toInboxEvent(n, String(cursor)), seen: false, read: false, archived: false, ...state };
}

function page(entries: InboxEntry[], cursor: string, next = "", counts = { unread: 0, unseen: 0 }): ListInboxResponse {
  return { entries, next_page_token: next, stream_cursor: cursor, counts };
}

function notification(cursor: number, id = "n" + cursor): StreamEvent {
  return { kind: "notification", cursor: String(cursor), event: "notification", notification: JSON.parse(note(id)) };
}

function setup() {
  const server = fakeServer();
  const api = new Api({ baseUrl: "", tokens: new TokenSource(tokens().getToken), fetch: server.fetch });
  const stream = new Emitter<StreamEvent>();
  const store = new InboxStore({ api, stream });
  let notified = 0;
  store.subscribe(() => notified++);
  return { server, store, stream, notified: () => notified };
}

const ids = (store: InboxStore) => store.getSnapshot().entries.map((e) => e.event.id);

describe("InboxStore", () => {
  it("loads the first page with its counts and cursor, and pages", async () => {
    const { server, store } = setup();
    const queries: string[] = [];
    server.routes["GET /v1/inbox"] = (c: Call) => {
      const q = new URL(c.url, "http://x").searchParams;
      queries.push(q.toString());
      return q.get("page_token") === "8" ? json(200, page([entry(7), entry(8)], "10")) : json(200, page([entry(10), entry(9, { read: true, seen: true })], "10", "8", { unread: 5, unseen: 4 }));
    };
    const s0 = store.getSnapshot();
    expect(s0.status).toBe("idle");
    await store.load();
    const s1 = store.getSnapshot();
    expect(s1).not.toBe(s0);
    expect(s1).toMatchObject({ status: "ready", counts: { unread: 5, unseen: 4 }, hasMore: true, streamCursor: "10" });
    expect(store.getSnapshot()).toBe(s1); // stable until a change
    await store.loadMore();
    expect(ids(store)).toEqual(["n10", "n9", "n8", "n7"]); // n8 came twice, kept once
    expect(store.getSnapshot().hasMore).toBe(false);
    expect(queries).toEqual(["", "page_token=8"]);
  });

  it("adds new entries from the stream, counts them, and ignores what the page already had", async () => {
    const { server, store, stream } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(5), entry(4)], "5", "", { unread: 2, unseen: 2 }));
    await store.load();
    stream.emit(notification(5)); // a replay of what the page held
    stream.emit(notification(4));
    stream.emit(notification(6));
    stream.emit(notification(6)); // twice
    stream.emit({ kind: "notification", cursor: "7_abc.1", event: "chat", notification: JSON.parse(note("c1", { channel: "rooms/a" })) });
    expect(ids(store)).toEqual(["n6", "n5", "n4"]);
    expect(store.getSnapshot().counts).toEqual({ unread: 3, unseen: 3 });
    const e = store.getSnapshot().entries[0]!;
    expect(e).toMatchObject({ seen: false, read: false, archived: false });
    expect(e.event).toMatchObject({ id: "n6", cursor: "6", priority: "PRIORITY_NORMAL", create_time: "2026-01-02T03:04:05Z", body: "", data: null, expire_time: null });
  });

  it("takes the inbox cursor of a stream cursor with channels", async () => {
    const { server, store, stream } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([], "3"));
    await store.load();
    stream.emit(notification(3));
    stream.emit({ kind: "notification", cursor: "12_1b4ss0n.1f", event: "x", notification: JSON.parse(note("n12")) });
    expect(ids(store)).toEqual(["n12"]);
    expect(store.getSnapshot().entries[0]!.event.cursor).toBe("12");
  });

  it("holds stream events that come while the first page loads, and keeps only the new ones", async () => {
    const { server, store, stream } = setup();
    let answer!: (r: Response) => void;
    server.routes["GET /v1/inbox"] = () => new Promise<Response>((r) => (answer = r));
    const loading = store.load();
    await flush();
    stream.emit(notification(2));
    stream.emit(notification(3));
    answer(json(200, page([entry(2), entry(1)], "2", "", { unread: 2, unseen: 2 })));
    await loading;
    expect(ids(store)).toEqual(["n3", "n2", "n1"]);
    expect(store.getSnapshot().counts).toEqual({ unread: 3, unseen: 3 });
  });

  it("takes counts from read events", async () => {
    const { server, store, stream } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(1)], "1", "", { unread: 1, unseen: 1 }));
    await store.load();
    stream.emit({ kind: "read", counts: { unread: 0, unseen: 0 } });
    expect(store.getSnapshot().counts).toEqual({ unread: 0, unseen: 0 });
  });

  it("refetches the first page on an inbox reset, not on a channel's", async () => {
    const { server, store, stream } = setup();
    let n = 0;
    server.routes["GET /v1/inbox"] = () => (++n === 1 ? json(200, page([entry(1)], "1", "", { unread: 1, unseen: 1 })) : json(200, page([entry(40)], "40", "", { unread: 1, unseen: 1 })));
    await store.load();
    stream.emit({ kind: "reset", cursor: "9", reason: "cursor_expired", channel: "rooms/a" });
    await flush();
    expect(n).toBe(1);
    stream.emit({ kind: "reset", cursor: "40", reason: "cursor_expired" });
    await flush();
    expect(n).toBe(2);
    expect(ids(store)).toEqual(["n40"]);
    expect(store.getSnapshot().streamCursor).toBe("40");
  });

  it("marks optimistically and takes the server's counts", async () => {
    const { server, store } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(3), entry(2), entry(1, { seen: true })], "3", "", { unread: 3, unseen: 2 }));
    let answer!: (r: Response) => void;
    const bodies: unknown[] = [];
    server.routes["POST /v1/inbox:mark"] = (c) => {
      bodies.push(c.body);
      return new Promise<Response>((r) => (answer = r));
    };
    await store.load();
    const done = store.markRead("n3");
    expect(store.getSnapshot().entries[0]).toMatchObject({ read: true, seen: true });
    expect(store.getSnapshot().counts).toEqual({ unread: 2, unseen: 1 });
    await flush();
    expect(bodies).toEqual([{ action: "MARK_ACTION_READ", ids: ["n3"] }]);
    answer(json(200, { changed: 1, counts: { unread: 7, unseen: 5 } })); // the server knows more
    await done;
    expect(store.getSnapshot().counts).toEqual({ unread: 7, unseen: 5 });
    expect(store.getSnapshot().entries[0]).toMatchObject({ read: true, seen: true });
  });

  it("rolls a refused mark back, keeping others", async () => {
    const { server, store } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(3), entry(2), entry(1)], "3", "", { unread: 3, unseen: 3 }));
    const answers: Array<(r: Response) => void> = [];
    server.routes["POST /v1/inbox:mark"] = () => new Promise<Response>((r) => answers.push(r));
    await store.load();
    const archived = store.archive("n2");
    const seen = store.markSeen(["n1", "n1"]);
    expect(ids(store)).toEqual(["n3", "n1"]);
    expect(store.getSnapshot().counts).toEqual({ unread: 2, unseen: 1 });
    await flush();
    answers[0]!(json(503, { code: 14, message: "inbox store (redis) temporarily unavailable; retry" }));
    await expect(archived).rejects.toMatchObject({ status: 503, code: 14 });
    expect(ids(store)).toEqual(["n3", "n2", "n1"]);
    expect(store.getSnapshot().counts).toEqual({ unread: 3, unseen: 2 }); // the seen mark stays
    answers[1]!(json(200, { changed: 1, counts: { unread: 3, unseen: 2 } }));
    await seen;
    expect(store.getSnapshot().entries.map((e) => e.seen)).toEqual([false, false, true]);
  });

  it("rolls back on a network error", async () => {
    const { server, store } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(1)], "1", "", { unread: 1, unseen: 1 }));
    server.routes["POST /v1/inbox:mark"] = () => Promise.reject(new TypeError("failed to fetch"));
    await store.load();
    await expect(store.markRead("n1")).rejects.toMatchObject({ status: 0 });
    expect(store.getSnapshot().entries[0]).toMatchObject({ read: false, seen: false });
    expect(store.getSnapshot().counts).toEqual({ unread: 1, unseen: 1 });
  });

  it("marks all read up to the newest cursor it knows", async () => {
    const { server, store, stream } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(3), entry(2)], "3", "2", { unread: 9, unseen: 9 }));
    const bodies: unknown[] = [];
    server.routes["POST /v1/inbox:mark"] = (c) => (bodies.push(c.body), json(200, { changed: 10, counts: { unread: 0, unseen: 0 } }));
    await store.load();
    stream.emit(notification(4));
    const done = store.markAllRead();
    expect(store.getSnapshot().counts).toEqual({ unread: 0, unseen: 0 });
    expect(store.getSnapshot().entries.every((e) => e.read && e.seen)).toBe(true);
    await done;
    expect(bodies).toEqual([{ action: "MARK_ACTION_READ", up_to_cursor: "4" }]);
  });

  it("keeps optimistic counts while marks are pending, then takes the last read event or answer", async () => {
    const { server, store, stream } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(2), entry(1)], "2", "", { unread: 2, unseen: 2 }));
    const answers: Array<(r: Response) => void> = [];
    server.routes["POST /v1/inbox:mark"] = () => new Promise<Response>((r) => answers.push(r));
    await store.load();
    const a = store.markRead("n1");
    stream.emit({ kind: "read", counts: { unread: 2, unseen: 2 } }); // from before this mark
    expect(store.getSnapshot().counts).toEqual({ unread: 1, unseen: 1 });
    await flush();
    answers[0]!(json(500, { code: 13, message: "internal" }));
    await expect(a).rejects.toBeTruthy();
    expect(store.getSnapshot().counts).toEqual({ unread: 2, unseen: 2 });
  });

  it("applies the marks of other tabs to its entries", async () => {
    const server = fakeServer();
    const api = new Api({ baseUrl: "", tokens: new TokenSource(tokens().getToken), fetch: server.fetch });
    const peers = new Emitter<unknown>();
    const store = new InboxStore({ api, peers: { broadcast: () => {}, onPeer: (l) => peers.on(l) } });
    server.routes["GET /v1/inbox"] = () => json(200, page([entry(2), entry(1)], "2", "", { unread: 2, unseen: 2 }));
    await store.load();
    peers.emit({ herald: "mark", action: "MARK_ACTION_READ", ids: ["n2"] });
    expect(store.getSnapshot().entries[0]).toMatchObject({ read: true });
    expect(store.getSnapshot().counts).toEqual({ unread: 2, unseen: 2 }); // counts come with the read event
    peers.emit({ herald: "mark", action: "MARK_ACTION_ARCHIVE", upTo: "1" });
    expect(ids(store)).toEqual(["n2"]);
  });

  it("notifies subscribers and stops when unsubscribed", async () => {
    const { server, store, stream } = setup();
    server.routes["GET /v1/inbox"] = () => json(200, page([], "0"));
    let calls = 0;
    const off = store.subscribe(() => calls++);
    await store.load();
    expect(calls).toBe(2); // loading, ready
    off();
    stream.emit(notification(1));
    expect(calls).toBe(2);
    expect(ids(store)).toEqual(["n1"]);
  });
});

describe("applyMark and cursors", () => {
  it("counts as the server does", () => {
    const es = [entry(3), entry(2, { seen: true }), entry(1, { seen: true, read: true })];
    const c = { unread: 2, unseen: 1 };
    expect(applyMark(es, c, { action: "MARK_ACTION_SEEN", ids: new Set(["n3", "n2"]) })[1]).toEqual({ unread: 2, unseen: 0 });
    expect(applyMark(es, c, { action: "MARK_ACTION_UNREAD", ids: new Set(["n1", "n3"]) })[1]).toEqual({ unread: 3, unseen: 1 });
    expect(applyMark(es, c, { action: "MARK_ACTION_ARCHIVE", ids: new Set(["n3"]) })[1]).toEqual({ unread: 1, unseen: 0 });
    expect(applyMark(es, c, { action: "MARK_ACTION_SEEN", upTo: "2" })[1]).toEqual({ unread: 2, unseen: 1 });
    expect(compareCursors("10", "9")).toBeGreaterThan(0);
    expect(compareCursors("9", "10")).toBeLessThan(0);
    expect(compareCursors("7", "7")).toBe(0);
  });
});

describe("createHeraldClient", () => {
  it("loads the first page, then streams after its cursor; a 401 on REST refreshes the token once", async () => {
    const server = fakeServer();
    const tok = tokens();
    server.routes["GET /v1/inbox"] = (c) => (c.headers["authorization"] === "Bearer t1" ? json(401, { code: 16, message: "expired" }) : json(200, page([entry(5)], "5", "", { unread: 1, unseen: 1 })));
    const client = createHeraldClient({ baseUrl: "https://h.test", getToken: tok.getToken, fetch: server.fetch, tabs: null, visibility: null });
    await client.start();
    await flush();
    expect(tok.asked).toEqual([false, true]);
    expect(server.last().call.headers["last-event-id"]).toBe("5");
    expect(server.last().call.headers["authorization"]).toBe("Bearer t2");
    server.last().send(`id: 6\nevent: invoice.paid\ndata: ${note("n6", { type: "invoice.paid" })}\n\n`);
    await flush();
    expect(ids(client.inbox)).toEqual(["n6", "n5"]);
    expect(client.inbox.getSnapshot().counts).toEqual({ unread: 2, unseen: 2 });
    client.stop();
    await flush();
    expect(server.last().closed).toBe(true);
  });
});
