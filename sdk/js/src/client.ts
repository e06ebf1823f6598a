import { Api } from "./api.js";
import { InboxStore } from "./inbox.js";
import { SharedStream, type SharedStreamOptions } from "./shared.js";
import { TokenSource } from "./token.js";

/** Options of createHeraldClient: the stream's, the tabs', and the inbox's page size. */
export interface HeraldClientOptions extends SharedStreamOptions {
  /** Inbox entries per page (the server's default, 50, when unset). */
  pageSize?: number;
}

/** An inbox store kept current by one stream shared by the origin's tabs. */
export interface HeraldClient {
  readonly inbox: InboxStore;
  readonly stream: SharedStream;
  readonly api: Api;
  /**
   * Loads the inbox's first page, then streams after its cursor, so that
   * nothing between the two is missed. Rejects when the first page cannot
   * be loaded (the stream is not started then; call start again).
   */
  start(): Promise<void>;
  /** Closes the stream (another tab takes it over) and stops updating the store. */
  stop(): void;
}

/**
 * createHeraldClient wires the parts together: one TokenSource for REST and
 * stream, an Api, a SharedStream and an InboxStore that follows it.
 */
export function createHeraldClient(opts: HeraldClientOptions): HeraldClient {
  const tokens = opts.getToken instanceof TokenSource ? opts.getToken : new TokenSource(opts.getToken);
  const api = new Api({ baseUrl: opts.baseUrl ?? "", tokens, fetch: opts.fetch, credentials: opts.credentials });
  const stream = new SharedStream({ ...opts, getToken: tokens });
  const inbox = new InboxStore({ api, stream, peers: stream, pageSize: opts.pageSize });
  return {
    inbox,
    stream,
    api,
    async start() {
      // Hear the other tabs before the page is fetched: what a leader
      // passes on meanwhile is then either in the page or after it.
      await stream.join();
      await inbox.load();
      stream.start(inbox.getSnapshot().streamCursor);
    },
    stop() {
      stream.stop();
      inbox.dispose();
    },
  };
}
