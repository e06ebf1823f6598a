import type { TokenSource } from "./token.js";
import type { ArchiveFilter, InboxCounts, ListInboxResponse, MarkRequest, MarkResponse } from "./types.js";

/** The fetch function the client calls; `globalThis.fetch` by default. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** An HTTP error from Herald, with the server's message. */
export class HeraldError extends Error {
  override readonly name = "HeraldError";
  constructor(
    message: string,
    /** The HTTP status, or 0 when no response came. */
    readonly status: number,
    /** The server's error code: a gRPC code number (REST) or a string (stream). */
    readonly code?: number | string,
  ) {
    super(message);
  }
}

/** A stream ticket (`POST /v1/stream-tickets`). */
export interface StreamTicket {
  ticket: string;
  /** Seconds. */
  expires_in: number;
}

export interface ListInboxParams {
  pageSize?: number;
  pageToken?: string;
  unreadOnly?: boolean;
  archived?: ArchiveFilter;
}

export interface ApiOptions {
  /** Herald's origin and path prefix, such as "https://herald.example.com"; "" for this page's origin. */
  baseUrl: string;
  tokens: TokenSource;
  fetch?: FetchLike;
  /** Passed to fetch; "same-origin" by default. */
  credentials?: RequestCredentials;
}

/** Joins a base URL and a path. */
export function joinURL(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, "") + path;
}

/** The default fetch, called through globalThis so that it keeps its receiver. */
export const globalFetch: FetchLike = (input, init) => globalThis.fetch(input, init);

/**
 * Api calls Herald's REST inbox API as the user whose token TokenSource
 * holds. A 401 gets one retry with a refreshed token.
 */
export class Api {
  private readonly fetch: FetchLike;

  constructor(private readonly opts: ApiOptions) {
    this.fetch = opts.fetch ?? globalFetch;
  }

  /** `GET /v1/inbox`: one page, newest first. */
  listInbox(p: ListInboxParams = {}, signal?: AbortSignal): Promise<ListInboxResponse> {
    const q = new URLSearchParams();
    if (p.pageSize) q.set("page_size", String(p.pageSize));
    if (p.pageToken) q.set("page_token", p.pageToken);
    if (p.unreadOnly) q.set("unread_only", "true");
    if (p.archived) q.set("archived", p.archived);
    const qs = q.toString();
    return this.call<ListInboxResponse>("GET", "/v1/inbox" + (qs ? "?" + qs : ""), undefined, signal);
  }

  /** `POST /v1/inbox:mark`. */
  mark(req: MarkRequest, signal?: AbortSignal): Promise<MarkResponse> {
    return this.call<MarkResponse>("POST", "/v1/inbox:mark", req, signal);
  }

  /** `GET /v1/inbox/counts`. */
  async counts(signal?: AbortSignal): Promise<InboxCounts> {
    const r = await this.call<{ counts: InboxCounts | null }>("GET", "/v1/inbox/counts", undefined, signal);
    return r.counts ?? { unread: 0, unseen: 0 };
  }

  /** `POST /v1/stream-tickets`: a short-lived, single-use ticket for `GET /v1/stream?ticket=`. */
  streamTicket(signal?: AbortSignal): Promise<StreamTicket> {
    return this.call<StreamTicket>("POST", "/v1/stream-tickets", undefined, signal);
  }

  private async call<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const { tokens } = this.opts;
    let token = await tokens.get();
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { Accept: "application/json", Authorization: "Bearer " + token };
      const init: RequestInit = { method, headers, cache: "no-store" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      if (this.opts.credentials) init.credentials = this.opts.credentials;
      if (signal) init.signal = signal;
      let res: Response;
      try {
        res = await this.fetch(joinURL(this.opts.baseUrl, path), init);
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new HeraldError(`herald: ${method} ${path}: ${errorText(err)}`, 0);
      }
      if (res.status === 401 && attempt === 0) {
        token = await tokens.refresh(token);
        continue;
      }
      if (!res.ok) throw await responseError(res, method + " " + path);
      return (await res.json()) as T;
    }
  }
}

/** Turns a failed response into a HeraldError with the server's message. */
export async function responseError(res: Response, what: string): Promise<HeraldError> {
  let message = res.statusText || "HTTP " + res.status;
  let code: number | string | undefined;
  try {
    const b = (await res.json()) as { code?: number; message?: string; error?: { code?: string; message?: string } };
    if (b.error) {
      code = b.error.code;
      message = b.error.message ?? message;
    } else {
      code = b.code;
      message = b.message ?? message;
    }
  } catch {
    // not JSON: keep the status text
  }
  return new HeraldError(`herald: ${what}: ${res.status} ${message}`, res.status, code);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
