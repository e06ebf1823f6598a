import { vi } from "vitest";
import type { FetchLike } from "../src/api.js";
import type { VisibilitySource } from "../src/visibility.js";

/** One request the fake server received. */
export interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal | undefined;
}

/** An event-stream response the test writes to and ends. */
export interface Conn {
  call: Call;
  send(text: string): void;
  /** Ends the response cleanly. */
  end(): void;
  /** Breaks the connection. */
  fail(): void;
  closed: boolean;
}

function abortError(): Error {
  const e = new Error("The operation was aborted.");
  e.name = "AbortError";
  return e;
}

/**
 * fakeServer answers fetch: `GET /v1/stream` with an event stream the test
 * controls (or with what `streamReply` returns), anything else with
 * `routes[method + " " + path]`.
 */
export function fakeServer() {
  const calls: Call[] = [];
  const conns: Conn[] = [];
  const routes: Record<string, (c: Call) => Response | Promise<Response>> = {};
  let streamReply: ((c: Call) => Response | Promise<Response> | undefined) | undefined;

  const openStream = (call: Call): Response => {
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        ctl = c;
      },
    });
    const conn: Conn = {
      call,
      closed: false,
      send(text) {
        if (!conn.closed) ctl.enqueue(enc.encode(text));
      },
      end() {
        if (conn.closed) return;
        conn.closed = true;
        ctl.close();
      },
      fail() {
        if (conn.closed) return;
        conn.closed = true;
        ctl.error(new TypeError("network error"));
      },
    };
    call.signal?.addEventListener("abort", () => {
      if (conn.closed) return;
      conn.closed = true;
      ctl.error(abortError());
    });
    conns.push(conn);
    return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  };

  const fetch: FetchLike = async (input, init) => {
    const u = new URL(input, "http://herald.test");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((init.headers ?? {}) as Record<string, string>)) headers[k.toLowerCase()] = v;
    const call: Call = {
      url: input,
      method: init.method ?? "GET",
      headers,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
      signal: init.signal ?? undefined,
    };
    calls.push(call);
    if (init.signal?.aborted) throw abortError();
    if (call.method === "GET" && u.pathname === "/v1/stream") {
      const r = await streamReply?.(call);
      return r ?? openStream(call);
    }
    const route = routes[call.method + " " + u.pathname];
    if (!route) return json(404, { code: 5, message: "not found" });
    return route(call);
  };

  return {
    fetch,
    calls,
    conns,
    routes,
    /** Answers stream requests with r's response while it returns one. */
    setStreamReply(r: typeof streamReply) {
      streamReply = r;
    },
    streamCalls: () => calls.filter((c) => c.method === "GET" && new URL(c.url, "http://herald.test").pathname === "/v1/stream"),
    last: () => conns[conns.length - 1]!,
  };
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Lets pending promises and zero-delay timers run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(0);
}

/** A page visibility the test switches. */
export function fakeVisibility(hidden = false) {
  const listeners = new Set<() => void>();
  const v = {
    hidden: () => hidden,
    subscribe(l: () => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    set(h: boolean) {
      hidden = h;
      for (const l of [...listeners]) l();
    },
  } satisfies VisibilitySource & { set(h: boolean): void };
  return v;
}

/** A getToken that hands out "t1", "t2", … and records whether a refresh was asked. */
export function tokens() {
  const asked: boolean[] = [];
  return {
    asked,
    getToken: async ({ refresh }: { refresh: boolean }) => {
      asked.push(refresh);
      return "t" + asked.length;
    },
  };
}

export function note(id: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ id, type: "notification", title: "T " + id, priority: "normal", created_at: "2026-01-02T03:04:05Z", ...extra });
}
