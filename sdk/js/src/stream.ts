import { Api, HeraldError, errorText, globalFetch, joinURL, responseError, type FetchLike } from "./api.js";
import { reconnectDelay } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { EventStreamParser, type SSEMessage } from "./sse.js";
import { TokenSource, type GetToken } from "./token.js";
import type { InboxCounts, StreamEvent, StreamNotification, StreamStatus } from "./types.js";
import { documentVisibility, type VisibilitySource } from "./visibility.js";

/** Options of a HeraldStream. Times are in milliseconds. */
export interface StreamOptions {
  /** Herald's origin (and path prefix); "" (the default) for this page's origin. */
  baseUrl?: string;
  /** Where user tokens come from: the application's callback, or a TokenSource shared with an InboxStore. */
  getToken: GetToken | TokenSource;
  /**
   * "header" (default): the token goes in `Authorization: Bearer`.
   * "ticket": each connection first trades the token for a single-use
   * ticket (`POST /v1/stream-tickets`) and opens `/v1/stream?ticket=…`.
   * The token is never put in a URL.
   */
  auth?: "header" | "ticket";
  /** Live channels to stream beside the inbox (`?channels=a,b`). */
  channels?: string[];
  /**
   * "typed" (default): each notification's SSE event is its type.
   * "message": the server sends every notification as the default
   * `message` event (`?events=message`); its type stays in the data.
   */
  events?: "typed" | "message";
  fetch?: FetchLike;
  /** Passed to fetch ("same-origin" by default): "include" to send Herald's cookie cross-origin. */
  credentials?: RequestCredentials;
  /** The reconnection time until the server sends its own `retry:` (3000). */
  retry?: number;
  /** The longest wait between two failed attempts, before jitter (30000). */
  maxRetryDelay?: number;
  /** Random extra wait, as a fraction of the wait (0.5: between d and 1.5 d). */
  jitter?: number;
  /** Reconnect when nothing, not even a heartbeat, arrived for this long (45000, three of the server's default heartbeats); 0: never. */
  idleTimeout?: number;
  /** Close the stream after the page has been hidden this long (10000), reopen when it is visible again; false: never pause. */
  hiddenGrace?: number | false;
  /** The page's visibility; `document` by default, null to ignore it. */
  visibility?: VisibilitySource | null;
  /** Math.random by default; tests make jitter predictable with it. */
  random?: () => number;
}

type Outcome =
  | { kind: "ended"; opened: boolean }
  | { kind: "expired"; opened: boolean }
  | { kind: "unauthorized"; opened: boolean; error: Error }
  | { kind: "failed"; opened: boolean; error: Error }
  | { kind: "fatal"; opened: boolean; error: Error }
  | { kind: "aborted"; opened: boolean };

/** Why the current connection was aborted by the stream itself. */
type AbortKind = "pause" | "stop" | "idle" | "expired" | "reconnect";

/** Statuses that end a connection for good: a request the server will refuse whatever the retry. */
const fatalStatuses = [400, 403, 404, 405];

/**
 * HeraldStream is one user's Server-Sent Events stream (`GET /v1/stream`)
 * read with fetch, so that it can carry an `Authorization` header (or a
 * ticket) and never a token in the URL.
 *
 * It reconnects by itself after an error and also after a clean end of the
 * response, which is how every graceful server restart looks: after the
 * server's `retry:` (plus jitter) following a clean end, after a doubling
 * wait (capped at maxRetryDelay, plus jitter) following failures. Each
 * connection resumes after the last `id:` it saw with a `Last-Event-ID`
 * header, so nothing is missed and nothing comes twice. A 401 asks
 * getToken for a fresh token and retries at once, as does the server's
 * `token-expired`; `shutdown` is a clean end after a jittered `retry:`.
 * 400, 403 and 404 close the stream for good: retrying would not help.
 */
export class HeraldStream {
  private readonly events = new Emitter<StreamEvent>();
  private readonly statuses = new Emitter<StreamStatus>();
  private readonly tokens: TokenSource;
  private readonly api: Api;
  private readonly fetch: FetchLike;
  private readonly visibility: VisibilitySource | undefined;
  private retry: number;
  private current: StreamStatus = { state: "idle" };
  private lastCursor = "";
  private run = 0; // bumped by start and stop: a loop of another run stops
  private running = false;
  private paused = false;
  private token: string | undefined;
  private ctl: AbortController | undefined;
  private abortKind: AbortKind | undefined;
  private wakeUp: (() => void) | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private unwatch: (() => void) | undefined;

  constructor(private readonly opts: StreamOptions) {
    this.tokens = opts.getToken instanceof TokenSource ? opts.getToken : new TokenSource(opts.getToken);
    this.fetch = opts.fetch ?? globalFetch;
    this.api = new Api({ baseUrl: opts.baseUrl ?? "", tokens: this.tokens, fetch: this.fetch, credentials: opts.credentials });
    this.visibility = opts.visibility === null ? undefined : (opts.visibility ?? documentVisibility());
    this.retry = opts.retry ?? 3000;
  }

  /** The cursor the next connection resumes after: the last `id:` received (opaque). */
  get cursor(): string {
    return this.lastCursor;
  }

  /** Where the stream is. */
  get status(): StreamStatus {
    return this.current;
  }

  /** Calls listener with every event; returns a function that stops it. */
  on(listener: (event: StreamEvent) => void): () => void {
    return this.events.on(listener);
  }

  /** Calls listener on every change of status; returns a function that stops it. */
  onStatus(listener: (status: StreamStatus) => void): () => void {
    return this.statuses.on(listener);
  }

  /**
   * Opens the stream, resuming after cursor when given (such as the
   * `stream_cursor` of the inbox's first page), and keeps it open until
   * stop. Starting a started stream does nothing.
   */
  start(cursor?: string): void {
    if (this.running) return;
    this.running = true;
    if (cursor !== undefined) this.lastCursor = cursor;
    const run = ++this.run;
    if (this.visibility && this.opts.hiddenGrace !== false) {
      this.unwatch = this.visibility.subscribe(() => this.onVisibility());
      this.onVisibility();
    }
    void this.loop(run);
  }

  /** Closes the stream for good (until the next start). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.run++;
    this.unwatch?.();
    this.unwatch = undefined;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.paused = false;
    this.abort("stop");
    this.wake();
    this.setStatus({ state: "closed" });
  }

  /** Drops the current connection, or the wait for the next, and connects again at once. */
  reconnect(): void {
    if (!this.running) return;
    this.abort("reconnect");
    this.wake();
  }

  private async loop(run: number): Promise<void> {
    let failures = 0;
    let unauthorized = 0;
    let refresh = false;
    while (this.run === run) {
      if (this.paused) {
        this.setStatus({ state: "paused" });
        await this.sleep(Infinity);
        continue;
      }
      const out = await this.connect(run, refresh);
      if (this.run !== run) return;
      refresh = false;
      if (out.opened) failures = unauthorized = 0;
      let wait = 0;
      let error: Error | undefined;
      switch (out.kind) {
        case "aborted":
          continue;
        case "ended":
          wait = this.delay(0);
          break;
        case "expired":
          refresh = true;
          break;
        case "unauthorized":
          error = out.error;
          refresh = (this.opts.auth ?? "header") === "header";
          // The first 401 retries at once with a fresh token; more in a
          // row wait as failures do.
          if (++unauthorized > 1) wait = this.delay(failures++);
          break;
        case "failed":
          error = out.error;
          wait = this.delay(failures++);
          break;
        case "fatal":
          this.running = false;
          this.run++;
          this.unwatch?.();
          this.setStatus({ state: "closed", error: out.error });
          return;
      }
      if (out.kind !== "unauthorized") unauthorized = 0;
      if (wait > 0) {
        this.setStatus(error ? { state: "waiting", retryIn: wait, error } : { state: "waiting", retryIn: wait });
        await this.sleep(wait);
      }
    }
  }

  private delay(failures: number): number {
    return reconnectDelay(failures, {
      retry: this.retry,
      max: this.opts.maxRetryDelay ?? 30000,
      jitter: this.opts.jitter ?? 0.5,
      random: this.opts.random ?? Math.random,
    });
  }

  private async connect(run: number, refresh: boolean): Promise<Outcome> {
    const ctl = new AbortController();
    this.ctl = ctl;
    this.abortKind = undefined;
    this.setStatus({ state: "connecting" });
    let opened = false;
    let expired = false;
    try {
      const q: string[] = [];
      const channels = this.opts.channels ?? [];
      if (channels.length > 0) q.push("channels=" + channels.map(encodeURIComponent).join(","));
      if (this.opts.events === "message") q.push("events=message");
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      if (this.opts.auth === "ticket") {
        try {
          if (refresh) await this.tokens.refresh(this.token);
          const t = await this.api.streamTicket(ctl.signal);
          q.push("ticket=" + encodeURIComponent(t.ticket));
        } catch (err) {
          if (err instanceof HeraldError && fatalStatuses.includes(err.status)) return { kind: "fatal", opened, error: err };
          throw err;
        }
      } else {
        this.token = refresh ? await this.tokens.refresh(this.token) : await this.tokens.get();
        headers["Authorization"] = "Bearer " + this.token;
      }
      // Sent with tickets too: the header is the resume cursor's one
      // place, and fetch, unlike EventSource, can set it.
      if (this.lastCursor !== "") headers["Last-Event-ID"] = this.lastCursor;
      const init: RequestInit = { headers, signal: ctl.signal, cache: "no-store" };
      if (this.opts.credentials) init.credentials = this.opts.credentials;
      const url = joinURL(this.opts.baseUrl ?? "", "/v1/stream" + (q.length ? "?" + q.join("&") : ""));
      this.armIdle(ctl);
      const res = await this.fetch(url, init);
      if (res.status === 401) return { kind: "unauthorized", opened, error: await responseError(res, "GET /v1/stream") };
      if (!res.ok) {
        const error = await responseError(res, "GET /v1/stream");
        return { kind: fatalStatuses.includes(res.status) ? "fatal" : "failed", opened, error };
      }
      const type = res.headers.get("Content-Type") ?? "";
      if (!type.toLowerCase().startsWith("text/event-stream") || !res.body) {
        void res.body?.cancel().catch(() => {});
        return { kind: "failed", opened, error: new HeraldError(`herald: GET /v1/stream: not an event stream (${type || "no Content-Type"})`, res.status) };
      }
      opened = true;
      this.setStatus({ state: "open" });
      const reader = res.body.getReader();
      const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
      const parser = new EventStreamParser(
        (m) => {
          if (this.message(run, m)) expired = true;
        },
        (ms) => {
          this.retry = ms;
        },
        this.lastCursor,
      );
      try {
        // Ends when the response does, or when the connection is aborted.
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.armIdle(ctl);
          parser.push(decoder.decode(value, { stream: true }));
          if (this.run !== run) return { kind: "aborted", opened };
          this.lastCursor = parser.lastEventId;
          if (expired) {
            this.abort("expired");
            return { kind: "expired", opened };
          }
        }
        parser.push(decoder.decode());
        parser.end();
        this.lastCursor = parser.lastEventId;
      } finally {
        void reader.cancel().catch(() => {});
      }
      return { kind: expired ? "expired" : "ended", opened };
    } catch (err) {
      const kind = this.abortKind;
      if (kind === "idle") {
        const idle = this.opts.idleTimeout ?? 45000;
        return { kind: "failed", opened, error: new HeraldError(`herald: GET /v1/stream: nothing received for ${idle} ms`, 0) };
      }
      if (kind === "expired") return { kind: "expired", opened };
      if (kind !== undefined || this.run !== run) return { kind: "aborted", opened };
      return { kind: "failed", opened, error: err instanceof Error ? err : new Error(errorText(err)) };
    } finally {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (this.ctl === ctl) this.ctl = undefined;
    }
  }

  /** Handles one event of the stream; true when it was `token-expired`. */
  private message(run: number, m: SSEMessage): boolean {
    if (this.run !== run) return false;
    this.lastCursor = m.lastEventId;
    let data: unknown;
    try {
      data = JSON.parse(m.data);
    } catch {
      return false; // not Herald's
    }
    if (typeof data !== "object" || data === null) return false;
    const d = data as Record<string, unknown>;
    switch (m.type) {
      case "token-expired":
        this.events.emit({ kind: "control", event: "token-expired" });
        return true;
      case "shutdown":
        this.events.emit({ kind: "control", event: "shutdown" });
        return false; // the server ends the stream after a jittered retry:
      case "read":
        this.events.emit({ kind: "read", counts: { unread: num(d["unread"]), unseen: num(d["unseen"]) } satisfies InboxCounts });
        return false;
      case "reset": {
        const ev: StreamEvent = { kind: "reset", cursor: str(d["cursor"]) || m.lastEventId, reason: str(d["reason"]) };
        if (typeof d["channel"] === "string" && d["channel"] !== "") ev.channel = d["channel"];
        this.events.emit(ev);
        return false;
      }
    }
    if (typeof d["id"] !== "string") return false;
    this.events.emit({ kind: "notification", cursor: m.lastEventId, event: m.type, notification: d as unknown as StreamNotification });
    return false;
  }

  private onVisibility(): void {
    const grace = this.opts.hiddenGrace ?? 10000;
    if (!this.visibility || grace === false || !this.running) return;
    if (this.visibility.hidden()) {
      if (this.graceTimer === undefined && !this.paused) {
        this.graceTimer = setTimeout(() => {
          this.graceTimer = undefined;
          this.paused = true;
          this.abort("pause");
          this.wake();
        }, grace);
      }
      return;
    }
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (this.paused) {
      this.paused = false;
      this.wake();
    }
  }

  private armIdle(ctl: AbortController): void {
    const idle = this.opts.idleTimeout ?? 45000;
    clearTimeout(this.idleTimer);
    if (idle <= 0) return;
    this.idleTimer = setTimeout(() => {
      if (this.ctl === ctl) this.abort("idle");
    }, idle);
  }

  private abort(kind: AbortKind): void {
    if (!this.ctl) return;
    this.abortKind = kind;
    this.ctl.abort();
  }

  /** Waits ms (Infinity: until woken). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      if (ms !== Infinity) timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private wake(): void {
    this.wakeUp?.();
  }

  private setStatus(s: StreamStatus): void {
    this.current = s;
    this.statuses.emit(s);
  }
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
