import { Emitter } from "./emitter.js";
import { HeraldStream, type StreamOptions } from "./stream.js";
import { browserTabs, channelElection, lockElection, type Election, type TabChannel, type TabEnvironment } from "./tabs.js";
import { TokenSource } from "./token.js";
import type { StreamEvent, StreamState, StreamStatus } from "./types.js";
import { documentVisibility, type VisibilitySource } from "./visibility.js";

/** Options of a SharedStream: a HeraldStream's, and how tabs find each other. */
export interface SharedStreamOptions extends StreamOptions {
  /**
   * Tabs of one origin whose keys are equal share one stream. By default
   * the key is made of baseUrl, the user (the token's `sub` claim),
   * channels and events; set it when tokens are not JWTs.
   */
  key?: string;
  /** How tabs reach each other: browserTabs() by default; null streams in this tab alone. */
  tabs?: TabEnvironment | null;
  /** The heartbeat of the election used where Web Locks are missing (1000 ms). */
  heartbeat?: number;
}

/** What tabs say to each other besides the election's own messages. */
type TabMessage =
  | { t: "ev"; ev: StreamEvent; cursor: string }
  | { t: "st"; state: StreamState }
  | { t: "vis"; from: string; visible: boolean }
  | { t: "hello"; from: string }
  | { t: "peer"; data: unknown };

/**
 * SharedStream is one stream for all tabs of an origin that show the same
 * user. The tabs elect a leader (an exclusive Web Lock, or an election over
 * BroadcastChannel where Web Locks are missing); the leader holds the
 * HeraldStream and passes every event, with its cursor, to the other tabs
 * on a BroadcastChannel. When the leader's tab closes, another tab becomes
 * the leader and resumes the stream after the last cursor it was given, so
 * nothing is lost. The leader pauses the stream only when every tab is
 * hidden. Where BroadcastChannel is missing, each tab streams alone.
 */
export class SharedStream {
  /** This tab's random ID among the tabs. */
  readonly id: string;
  private readonly events = new Emitter<StreamEvent>();
  private readonly statuses = new Emitter<StreamStatus>();
  private readonly peers = new Emitter<unknown>();
  private readonly tokens: TokenSource;
  private readonly own: VisibilitySource | undefined;
  private readonly visibleTabs = new Set<string>();
  private readonly aggregateListeners = new Set<() => void>();
  private current: StreamStatus = { state: "idle" };
  private lastCursor = "";
  private run = 0;
  private running = false;
  private leading = false;
  private stream: HeraldStream | undefined;
  private channel: TabChannel | undefined;
  private election: Election | undefined;
  private env: TabEnvironment | undefined;
  private name = "";
  private joining: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private readonly onMessage = (e: { data: unknown }) => this.message(e.data as TabMessage);

  constructor(private readonly opts: SharedStreamOptions) {
    this.tokens = opts.getToken instanceof TokenSource ? opts.getToken : new TokenSource(opts.getToken);
    this.own = opts.visibility === null ? undefined : (opts.visibility ?? documentVisibility());
    this.id = randomID();
  }

  /** The cursor a new leader would resume after. */
  get cursor(): string {
    return this.stream?.cursor ?? this.lastCursor;
  }

  get status(): StreamStatus {
    return this.current;
  }

  /** True while this tab holds the stream. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Calls listener with every event, in every tab; returns a function that stops it. */
  on(listener: (event: StreamEvent) => void): () => void {
    return this.events.on(listener);
  }

  onStatus(listener: (status: StreamStatus) => void): () => void {
    return this.statuses.on(listener);
  }

  /** Calls listener with what other tabs pass to broadcast. */
  onPeer(listener: (data: unknown) => void): () => void {
    return this.peers.on(listener);
  }

  /** Sends data (structured-cloneable) to the other tabs' onPeer listeners. */
  broadcast(data: unknown): void {
    this.post({ t: "peer", data });
  }

  /**
   * Opens this tab's line to the others, so that their events reach on()
   * from now on, without taking part in the election yet. start joins by
   * itself; join first when something (an inbox page) must be fetched
   * between hearing the other tabs and starting.
   */
  join(): Promise<void> {
    return (this.joining ??= this.open(this.run));
  }

  /**
   * Joins the tabs and the election. If this tab leads, the stream
   * resumes after the last cursor another leader passed on, or else after
   * cursor.
   */
  start(cursor?: string): void {
    if (this.running) return;
    this.running = true;
    if (cursor !== undefined && this.lastCursor === "") this.lastCursor = cursor;
    const run = this.run;
    void this.join().then(() => {
      if (this.run !== run || !this.running) return;
      if (!this.channel) {
        this.lead(); // no other tabs to reach
        return;
      }
      this.election = this.env?.locks ? lockElection(this.env.locks, this.name) : channelElection(this.channel, this.id, this.opts.heartbeat ?? 1000);
      this.election.start(
        () => {
          if (this.run === run) this.lead();
        },
        () => {
          if (this.run === run) this.follow();
        },
      );
    });
  }

  /** Leaves the tabs: a leader hands the stream over to the next tab. */
  stop(): void {
    if (!this.running && !this.joining) return;
    this.running = false;
    this.run++;
    this.joining = undefined;
    this.election?.stop();
    this.election = undefined;
    this.stopStream();
    if (!this.leading) this.post({ t: "vis", from: this.id, visible: false });
    this.leading = false;
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.channel) {
      this.channel.removeEventListener("message", this.onMessage);
      this.channel.close();
      this.channel = undefined;
    }
    this.setStatus({ state: "closed" });
  }

  private async open(run: number): Promise<void> {
    const env = this.opts.tabs === null ? undefined : (this.opts.tabs ?? browserTabs());
    if (!env) return;
    let key = this.opts.key;
    if (key === undefined) {
      let token = "";
      try {
        token = await this.tokens.get();
      } catch {
        // no token yet: the leader's stream will say so
      }
      const channels = [...(this.opts.channels ?? [])].sort().join(",");
      key = [this.opts.baseUrl ?? "", subject(token), channels, this.opts.events ?? "typed"].join("|");
    }
    if (this.run !== run) return;
    this.env = env;
    this.name = "herald:" + key;
    const channel = env.openChannel(this.name);
    this.channel = channel;
    channel.addEventListener("message", this.onMessage);
    if (this.own) this.unwatch = this.own.subscribe(() => this.ownVisibility());
    this.setStatus({ state: "following" });
    this.ownVisibility();
  }

  private lead(): void {
    this.leading = true;
    this.visibleTabs.clear();
    this.post({ t: "hello", from: this.id });
    const s = new HeraldStream({ ...this.opts, getToken: this.tokens, visibility: this.aggregate });
    this.stream = s;
    s.on((ev) => {
      this.lastCursor = s.cursor;
      this.post({ t: "ev", ev, cursor: s.cursor });
      this.events.emit(ev);
    });
    s.onStatus((st) => {
      this.post({ t: "st", state: st.state });
      this.setStatus(st);
    });
    s.start(this.lastCursor);
  }

  private follow(): void {
    this.stopStream();
    this.leading = false;
    this.setStatus({ state: "following" });
    this.ownVisibility();
  }

  private stopStream(): void {
    const s = this.stream;
    if (!s) return;
    this.stream = undefined;
    this.lastCursor = s.cursor;
    s.stop();
  }

  private message(m: TabMessage): void {
    if (!m || typeof m !== "object" || !this.channel) return;
    switch (m.t) {
      case "ev":
        if (this.leading) return; // a leader that lost a split hears the winner
        this.lastCursor = m.cursor;
        this.events.emit(m.ev);
        break;
      case "st":
        if (!this.leading) this.setStatus({ state: "following", leader: m.state });
        break;
      case "vis":
        if (!this.leading) return;
        if (m.visible) this.visibleTabs.add(m.from);
        else this.visibleTabs.delete(m.from);
        this.aggregateChanged();
        break;
      case "hello":
        this.ownVisibility();
        break;
      case "peer":
        this.peers.emit(m.data);
        break;
    }
  }

  /** Tells the leader (or, in the leader, its stream) that this tab's visibility changed. */
  private ownVisibility(): void {
    if (this.leading) this.aggregateChanged();
    else this.post({ t: "vis", from: this.id, visible: !(this.own?.hidden() ?? false) });
  }

  /** Hidden when this tab and every other one are. */
  private readonly aggregate: VisibilitySource = {
    hidden: () => (this.own?.hidden() ?? false) && this.visibleTabs.size === 0,
    subscribe: (listener) => {
      this.aggregateListeners.add(listener);
      return () => this.aggregateListeners.delete(listener);
    },
  };

  private aggregateChanged(): void {
    for (const l of [...this.aggregateListeners]) l();
  }

  private post(m: TabMessage): void {
    try {
      this.channel?.postMessage(m);
    } catch {
      // a closed channel: this tab is leaving
    }
  }

  private setStatus(s: StreamStatus): void {
    this.current = s;
    this.statuses.emit(s);
  }
}

/** The `sub` claim of a JWT, or "" when token is not one. */
export function subject(token: string): string {
  const part = token.split(".")[1];
  if (!part) return "";
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const json = new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : "";
  } catch {
    return "";
  }
}

function randomID(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  let s = "";
  for (let i = 0; i < 4; i++) s += Math.floor(Math.random() * 0x100000000).toString(36);
  return s;
}
