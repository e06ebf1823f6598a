/**
 * What tabs need to agree on one leader and to talk to each other: the Web
 * Locks API and BroadcastChannel in a browser, fakes in tests.
 */
export interface TabEnvironment {
  /** `navigator.locks`; without it tabs elect a leader over the channel. */
  locks?: TabLocks | undefined;
  /** `new BroadcastChannel(name)`. */
  openChannel(name: string): TabChannel;
}

/** The part of the Web Locks API (`navigator.locks`) used here. */
export interface TabLocks {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown>;
}

/** The part of BroadcastChannel used here: messages reach every other tab, not the sender. */
export interface TabChannel {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  removeEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  close(): void;
}

/** The browser's tab environment, or undefined where BroadcastChannel is missing. */
export function browserTabs(): TabEnvironment | undefined {
  const g = globalThis as { BroadcastChannel?: typeof BroadcastChannel; navigator?: { locks?: TabLocks } };
  const BC = g.BroadcastChannel;
  if (typeof BC !== "function") return undefined;
  const locks = g.navigator?.locks;
  return {
    locks: locks && typeof locks.request === "function" ? locks : undefined,
    openChannel: (name) => new BC(name) as unknown as TabChannel,
  };
}

/**
 * An Election makes at most one tab the leader at a time. onLeader runs
 * when this tab becomes the leader; onFollower when it stops being one
 * without being stopped (the fallback election can end a split).
 */
export interface Election {
  start(onLeader: () => void, onFollower: () => void): void;
  stop(): void;
}

/**
 * lockElection holds an exclusive Web Lock while leading. The browser
 * releases it when the tab closes or crashes and hands it to the next tab
 * waiting for it, which is then the leader.
 */
export function lockElection(locks: TabLocks, name: string): Election {
  let ctl: AbortController | undefined;
  let release: (() => void) | undefined;
  return {
    start(onLeader) {
      const c = new AbortController();
      ctl = c;
      locks
        .request(name, { signal: c.signal }, () => {
          if (c.signal.aborted) return Promise.resolve();
          onLeader();
          return new Promise<void>((resolve) => {
            release = resolve;
          });
        })
        .catch(() => {}); // AbortError: stopped while waiting
    },
    stop() {
      ctl?.abort();
      ctl = undefined;
      release?.();
      release = undefined;
    },
  };
}

/** Election messages on the tabs' channel. */
type ElectionMessage = { t: "hb"; from: string } | { t: "claim"; from: string } | { t: "bye"; from: string };

/**
 * channelElection elects a leader over a BroadcastChannel where Web Locks
 * are missing. The leader says it is alive every heartbeat; a tab that
 * has heard no leader for three heartbeats (one, when it starts) claims
 * the lead, and takes it
 * unless within one heartbeat a leader answers or a tab of a smaller id
 * claims too. A leader that hears another leader of a smaller id steps
 * down, so a split (two tabs claiming at once) ends within a heartbeat. A
 * leader that stops says goodbye, and the others claim at once.
 */
export function channelElection(channel: TabChannel, id: string, heartbeat = 1000): Election {
  let state: "idle" | "follower" | "claiming" | "leader" = "idle";
  let missed = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let claimTimer: ReturnType<typeof setTimeout> | undefined;
  let leader: () => void = () => {};
  let follower: () => void = () => {};

  const post = (m: ElectionMessage) => channel.postMessage(m);
  const claim = () => {
    if (state !== "follower") return;
    state = "claiming";
    post({ t: "claim", from: id });
    claimTimer = setTimeout(() => {
      claimTimer = undefined;
      if (state !== "claiming") return;
      state = "leader";
      post({ t: "hb", from: id });
      leader();
    }, heartbeat);
  };
  const yieldTo = () => {
    clearTimeout(claimTimer);
    claimTimer = undefined;
    const was = state;
    state = "follower";
    missed = 0;
    if (was === "leader") follower();
  };
  const onMessage = (e: { data: unknown }) => {
    const m = e.data as Partial<ElectionMessage> | null;
    if (!m || typeof m.from !== "string" || m.from === id || state === "idle") return;
    switch (m.t) {
      case "hb":
        if (state === "leader" && m.from > id) post({ t: "hb", from: id });
        else yieldTo();
        break;
      case "claim":
        if (state === "leader") post({ t: "hb", from: id });
        else if (state === "claiming" && m.from < id) yieldTo();
        break;
      case "bye":
        if (state === "follower") {
          missed = 0;
          claim();
        }
        break;
    }
  };

  return {
    start(onLeader, onFollower) {
      if (state !== "idle") return;
      leader = onLeader;
      follower = onFollower;
      state = "follower";
      // A new tab claims after one silent heartbeat: a living leader
      // answers a claim at once.
      missed = 2;
      channel.addEventListener("message", onMessage);
      timer = setInterval(() => {
        if (state === "leader") post({ t: "hb", from: id });
        else if (state === "follower" && ++missed >= 3) claim();
      }, heartbeat);
    },
    stop() {
      if (state === "idle") return;
      if (state === "leader") post({ t: "bye", from: id });
      state = "idle";
      clearInterval(timer);
      clearTimeout(claimTimer);
      channel.removeEventListener("message", onMessage);
    },
  };
}
