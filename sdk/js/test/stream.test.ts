import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HeraldStream, type StreamOptions } from "../src/stream.js";
import type { StreamEvent, StreamStatus } from "../src/types.js";
import { fakeServer, fakeVisibility, flush, json, note, tokens } from "./helpers.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(extra: Partial<StreamOptions> = {}) {
  const server = fakeServer();
  const tok = tokens();
  const events: StreamEvent[] = [];
  const statuses: StreamStatus[] = [];
  const stream = new HeraldStream({
    baseUrl: "https://herald.test/",
    getToken: tok.getToken,
    fetch: server.fetch,
    random: () => 0,
    visibility: null,
    ...extra,
  });
  stream.on((e) => events.push(e));
  stream.onStatus((s) => statuses.push(s));
  return { server, tok, events, statuses, stream };
}

describe("HeraldStream", () => {
  it("sends the token in the Authorization header, never in the URL", async () => {
    const { server, stream, events } = setup();
    stream.start();
    await flush();
    const c = server.last();
    expect(c.call.url).toBe("https://herald.test/v1/stream");
    expect(c.call.headers["authorization"]).toBe("Bearer t1");
    expect(c.call.headers["accept"]).toBe("text/event-stream");
    expect(c.call.headers["last-event-id"]).toBeUndefined();
    expect(stream.status.state).toBe("open");
    c.send(`retry: 3000\n\nid: 1\nevent: invoice.paid\ndata: ${note("a", { type: "invoice.paid", data: { n: 1 } })}\n\n: keep-alive\n\n`);
    await flush();
    expect(events).toEqual([
      { kind: "notification", cursor: "1", event: "invoice.paid", notification: expect.objectContaining({ id: "a", type: "invoice.paid", data: { n: 1 } }) },
    ]);
    expect(stream.cursor).toBe("1");
    stream.stop();
  });

  it("parses read and reset events", async () => {
    const { server, stream, events } = setup();
    stream.start("5");
    await flush();
    server.last().send('event: read\ndata: {"unread":2,"unseen":1}\n\nid: 9\nevent: reset\ndata: {"reason":"cursor_expired","cursor":"9"}\n\n');
    server.last().send('event: reset\ndata: {"reason":"cursor_expired","cursor":"9","channel":"rooms/a"}\n\n');
    await flush();
    expect(events).toEqual([
      { kind: "read", counts: { unread: 2, unseen: 1 } },
      { kind: "reset", cursor: "9", reason: "cursor_expired" },
      { kind: "reset", cursor: "9", reason: "cursor_expired", channel: "rooms/a" },
    ]);
    stream.stop();
  });

  it("asks for channels and catch-all events in the query", async () => {
    const { server, stream } = setup({ channels: ["rooms/a", "scores/1"], events: "message" });
    stream.start();
    await flush();
    expect(server.last().call.url).toBe("https://herald.test/v1/stream?channels=rooms%2Fa,scores%2F1&events=message");
    stream.stop();
  });

  it("reconnects after a clean end with the server's retry and resumes with Last-Event-ID", async () => {
    const { server, stream, statuses } = setup({ jitter: 0.5, random: () => 0.5 });
    stream.start("3");
    await flush();
    expect(server.last().call.headers["last-event-id"]).toBe("3");
    server.last().send(`retry: 2000\n\nid: 4\ndata: ${note("a")}\n\nid: 5\ndata: ${note("b")}\n\n`);
    server.last().end();
    await flush();
    expect(statuses.at(-1)).toEqual({ state: "waiting", retryIn: 2500 }); // 2000 plus half of the 0.5 jitter
    await vi.advanceTimersByTimeAsync(2499);
    expect(server.conns.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(server.conns.length).toBe(2);
    expect(server.last().call.headers["last-event-id"]).toBe("5");
    stream.stop();
  });

  it("resumes after an id-only event and after a reset's id", async () => {
    const { server, stream } = setup();
    stream.start();
    await flush();
    server.last().send('id: 7\n\nid: 12\nevent: reset\ndata: {"reason":"cursor_expired","cursor":"12"}\n\n');
    server.last().end();
    await flush();
    await vi.advanceTimersByTimeAsync(3000);
    expect(server.last().call.headers["last-event-id"]).toBe("12");
    stream.stop();
  });

  it("backs off exponentially, capped, after errors, and resets after a good connection", async () => {
    const { server, stream, statuses } = setup({ retry: 1000, maxRetryDelay: 4000 });
    let fail = true;
    server.setStreamReply(() => (fail ? Promise.reject(new TypeError("connection refused")) : undefined));
    stream.start();
    await flush();
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = statuses.at(-1)!;
      expect(s.state).toBe("waiting");
      expect(s.error?.message).toContain("connection refused");
      waits.push(s.retryIn!);
      await vi.advanceTimersByTimeAsync(s.retryIn!);
      await flush();
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000, 4000]);
    fail = false;
    await vi.advanceTimersByTimeAsync(4000);
    await flush();
    expect(stream.status.state).toBe("open");
    server.last().fail(); // a broken connection after a good one waits the base again
    await flush();
    expect(statuses.at(-1)).toMatchObject({ state: "waiting", retryIn: 1000 });
    stream.stop();
  });

  it("retries 5xx and 429 with backoff, and stops for good on 403", async () => {
    const { server, stream } = setup({ retry: 1000 });
    const replies = [json(503, { error: { code: "unavailable", message: "draining" } }), json(429, { error: { code: "too_many", message: "slow down" } }), json(403, { error: { code: "forbidden", message: "channel rooms/x" } })];
    server.setStreamReply(() => replies.shift());
    stream.start();
    await flush();
    expect(stream.status).toMatchObject({ state: "waiting", retryIn: 1000 });
    expect(stream.status.error?.message).toContain("503 draining");
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(stream.status).toMatchObject({ state: "waiting", retryIn: 2000 });
    await vi.advanceTimersByTimeAsync(2000);
    await flush();
    expect(stream.status.state).toBe("closed");
    expect(stream.status.error?.message).toContain("403 channel rooms/x");
    await vi.advanceTimersByTimeAsync(60000);
    expect(server.streamCalls().length).toBe(3);
  });

  it("refreshes the token on 401 and retries at once; backs off when the fresh one is refused too", async () => {
    const { server, stream, tok } = setup({ retry: 1000 });
    server.setStreamReply((c) => (c.headers["authorization"] !== "Bearer t3" ? json(401, { error: { code: "unauthenticated", message: "token expired" } }) : undefined));
    stream.start();
    await flush();
    expect(tok.asked).toEqual([false, true]);
    expect(server.streamCalls().map((c) => c.headers["authorization"])).toEqual(["Bearer t1", "Bearer t2"]);
    expect(stream.status).toMatchObject({ state: "waiting", retryIn: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(tok.asked).toEqual([false, true, true]);
    expect(stream.status.state).toBe("open");
    expect(server.last().call.headers["authorization"]).toBe("Bearer t3");
    stream.stop();
  });

  it("refreshes the token and reconnects at once on token-expired", async () => {
    const { server, stream, tok, events } = setup();
    stream.start();
    await flush();
    server.last().send(`id: 4\ndata: ${note("a")}\n\nevent: token-expired\ndata: {"reason":"token_expired"}\n\n`);
    await flush();
    expect(server.conns[0]!.closed).toBe(true);
    expect(tok.asked).toEqual([false, true]);
    expect(server.conns.length).toBe(2);
    expect(server.last().call.headers["authorization"]).toBe("Bearer t2");
    expect(server.last().call.headers["last-event-id"]).toBe("4");
    expect(events.map((e) => e.kind)).toEqual(["notification", "control"]);
    expect(events[1]).toEqual({ kind: "control", event: "token-expired" });
    stream.stop();
  });

  it("comes back after a shutdown with the jittered retry the server sent", async () => {
    const { server, stream, events } = setup();
    stream.start("1");
    await flush();
    server.last().send('retry: 3000\n\nretry: 7788\n\nevent: shutdown\ndata: {"reason":"shutdown"}\n\n');
    server.last().end();
    await flush();
    expect(stream.status).toEqual({ state: "waiting", retryIn: 7788 });
    expect(events).toEqual([{ kind: "control", event: "shutdown" }]);
    await vi.advanceTimersByTimeAsync(7788);
    await flush();
    expect(server.conns.length).toBe(2);
    expect(server.last().call.headers["last-event-id"]).toBe("1");
    stream.stop();
  });

  it("reconnects when nothing arrives within the idle timeout", async () => {
    const { server, stream } = setup({ idleTimeout: 45000, retry: 1000 });
    stream.start();
    await flush();
    await vi.advanceTimersByTimeAsync(30000);
    server.last().send(": keep-alive\n\n");
    await vi.advanceTimersByTimeAsync(44999);
    expect(server.conns[0]!.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(server.conns[0]!.closed).toBe(true);
    expect(stream.status.error?.message).toContain("nothing received for 45000 ms");
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(server.conns.length).toBe(2);
    stream.stop();
  });

  it("uses a single-use ticket per connection, with Last-Event-ID, and no token on the stream", async () => {
    const { server, stream } = setup({ auth: "ticket" });
    let n = 0;
    server.routes["POST /v1/stream-tickets"] = (c) => json(200, { ticket: "tk" + ++n + (c.headers["authorization"] === "Bearer t1" ? "" : "?"), expires_in: 30 });
    stream.start("8");
    await flush();
    const tickets = server.calls.filter((c) => c.url.endsWith("/v1/stream-tickets"));
    expect(tickets).toHaveLength(1);
    expect(tickets[0]!.method).toBe("POST");
    expect(tickets[0]!.headers["authorization"]).toBe("Bearer t1");
    const first = server.last().call;
    expect(first.url).toBe("https://herald.test/v1/stream?ticket=tk1");
    expect(first.headers["authorization"]).toBeUndefined();
    expect(first.headers["last-event-id"]).toBe("8");
    server.last().send(`id: 9\ndata: ${note("a")}\n\n`);
    server.last().end();
    await flush();
    await vi.advanceTimersByTimeAsync(3000);
    await flush();
    expect(server.last().call.url).toBe("https://herald.test/v1/stream?ticket=tk2");
    expect(server.last().call.headers["last-event-id"]).toBe("9");
    stream.stop();
  });

  it("gets a new ticket after a refused one, and refreshes the token when the ticket endpoint says 401", async () => {
    const { server, stream, tok } = setup({ auth: "ticket" });
    server.routes["POST /v1/stream-tickets"] = (c) =>
      c.headers["authorization"] === "Bearer t1" ? json(401, { code: 16, message: "token expired" }) : json(200, { ticket: "tk-" + c.headers["authorization"]!.slice(7) + "-" + server.calls.length, expires_in: 30 });
    let refuse = true;
    server.setStreamReply(() => (refuse ? ((refuse = false), json(401, { error: { code: "unauthenticated", message: "ticket used" } })) : undefined));
    stream.start();
    await flush();
    expect(tok.asked).toEqual([false, true]);
    const streams = server.streamCalls();
    expect(streams).toHaveLength(2);
    expect(streams[0]!.url).not.toBe(streams[1]!.url);
    expect(stream.status.state).toBe("open");
    stream.stop();
  });

  it("pauses while the page is hidden past the grace period and resumes from the cursor when visible", async () => {
    const vis = fakeVisibility();
    const { server, stream, statuses } = setup({ visibility: vis, hiddenGrace: 10000 });
    stream.start();
    await flush();
    server.last().send(`id: 3\ndata: ${note("a")}\n\n`);
    await flush();
    vis.set(true);
    await vi.advanceTimersByTimeAsync(5000);
    vis.set(false); // back within the grace period: nothing happens
    vis.set(true);
    await vi.advanceTimersByTimeAsync(9999);
    expect(server.conns[0]!.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(server.conns[0]!.closed).toBe(true);
    expect(statuses.at(-1)).toEqual({ state: "paused" });
    await vi.advanceTimersByTimeAsync(600000);
    expect(server.conns.length).toBe(1);
    vis.set(false);
    await flush();
    expect(server.conns.length).toBe(2);
    expect(server.last().call.headers["last-event-id"]).toBe("3");
    expect(stream.status.state).toBe("open");
    stream.stop();
  });

  it("starts paused-in-waiting when the page starts hidden, and never pauses with hiddenGrace false", async () => {
    const vis = fakeVisibility(true);
    const a = setup({ visibility: vis, hiddenGrace: 1000 });
    a.stream.start();
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(a.stream.status.state).toBe("paused");
    a.stream.stop();
    const b = setup({ visibility: vis, hiddenGrace: false });
    b.stream.start();
    await vi.advanceTimersByTimeAsync(60000);
    expect(b.stream.status.state).toBe("open");
    b.stream.stop();
  });

  it("stop closes the connection and ends the loop", async () => {
    const { server, stream } = setup();
    stream.start();
    await flush();
    stream.stop();
    await flush();
    expect(server.conns[0]!.closed).toBe(true);
    expect(stream.status.state).toBe("closed");
    await vi.advanceTimersByTimeAsync(600000);
    expect(server.conns.length).toBe(1);
  });

  it("ignores data that is not Herald's JSON", async () => {
    const { server, stream, events } = setup();
    stream.start();
    await flush();
    server.last().send("data: not json\n\ndata: 42\n\nevent: read\ndata: {}\n\n");
    await flush();
    expect(events).toEqual([{ kind: "read", counts: { unread: 0, unseen: 0 } }]);
    stream.stop();
  });
});
