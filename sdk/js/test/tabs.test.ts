import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SharedStream, subject } from "../src/shared.js";
import type { TabChannel, TabEnvironment, TabLocks } from "../src/tabs.js";
import type { StreamEvent } from "../src/types.js";
import { fakeServer, fakeVisibility, flush, note, tokens } from "./helpers.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A browser's worth of tabs: exclusive locks granted in request order, and channels that reach every other tab. */
function fakeBrowser() {
  const holders = new Map<string, boolean>();
  const queues = new Map<string, Array<() => void>>();
  const locks: TabLocks = {
    request(name, options, callback) {
      return new Promise((resolve, reject) => {
        const run = () => {
          holders.set(name, true);
          Promise.resolve(callback({ name }))
            .then(resolve, reject)
            .finally(() => {
              holders.set(name, false);
              const next = queues.get(name)?.shift();
              next?.();
            });
        };
        if (!holders.get(name)) {
          run();
          return;
        }
        const q = queues.get(name) ?? [];
        queues.set(name, q);
        q.push(run);
        options.signal?.addEventListener("abort", () => {
          const i = q.indexOf(run);
          if (i >= 0) q.splice(i, 1);
          const e = new Error("aborted");
          e.name = "AbortError";
          reject(e);
        });
      });
    },
  };
  const members = new Map<string, Set<FakeChannel>>();
  class FakeChannel implements TabChannel {
    private listeners = new Set<(e: { data: unknown }) => void>();
    closed = false;
    constructor(private name: string) {
      const set = members.get(name) ?? new Set();
      members.set(name, set);
      set.add(this);
    }
    postMessage(message: unknown) {
      if (this.closed) throw new Error("closed");
      const data = structuredClone(message);
      for (const other of members.get(this.name) ?? []) {
        if (other === this) continue;
        // Delivered as a task, as BroadcastChannel does.
        setTimeout(() => {
          if (!other.closed) for (const l of [...other.listeners]) l({ data });
        }, 0);
      }
    }
    addEventListener(_type: "message", l: (e: { data: unknown }) => void) {
      this.listeners.add(l);
    }
    removeEventListener(_type: "message", l: (e: { data: unknown }) => void) {
      this.listeners.delete(l);
    }
    close() {
      this.closed = true;
      members.get(this.name)?.delete(this);
    }
  }
  return {
    env(withLocks: boolean): TabEnvironment {
      return { locks: withLocks ? locks : undefined, openChannel: (name) => new FakeChannel(name) };
    },
  };
}

const jwt = (sub: string) => "x." + btoa(JSON.stringify({ sub })).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_") + ".y";

function tab(server: ReturnType<typeof fakeServer>, env: TabEnvironment, vis = fakeVisibility()) {
  const events: StreamEvent[] = [];
  const s = new SharedStream({ baseUrl: "https://h.test", getToken: async () => jwt("alice"), fetch: server.fetch, tabs: env, visibility: vis, random: () => 0, hiddenGrace: 10000, heartbeat: 1000 });
  s.on((e) => events.push(e));
  return { s, events, vis };
}

describe("subject", () => {
  it("reads sub from a JWT and nothing from anything else", () => {
    expect(subject(jwt("alice"))).toBe("alice");
    expect(subject("opaque")).toBe("");
    expect(subject("a.!!!.c")).toBe("");
  });
});

for (const withLocks of [true, false]) {
  describe(withLocks ? "SharedStream with Web Locks" : "SharedStream with the BroadcastChannel election", () => {
    const settleElection = async () => {
      // The fallback election takes a few heartbeats.
      for (let i = 0; i < 5; i++) await vi.advanceTimersByTimeAsync(1000);
      await flush();
    };

    it("opens one stream for all tabs and passes every event on", async () => {
      const server = fakeServer();
      const browser = fakeBrowser();
      const a = tab(server, browser.env(withLocks));
      const b = tab(server, browser.env(withLocks));
      a.s.start("1");
      await settleElection();
      b.s.start("1");
      await settleElection();
      expect(server.conns.length).toBe(1);
      expect(a.s.isLeader).toBe(true);
      expect(b.s.isLeader).toBe(false);
      expect(b.s.status.state).toBe("following");
      server.last().send(`id: 2\ndata: ${note("n2")}\n\nevent: read\ndata: {"unread":0,"unseen":0}\n\n`);
      await flush();
      expect(a.events.map((e) => e.kind)).toEqual(["notification", "read"]);
      expect(b.events).toEqual(a.events);
      expect(b.s.cursor).toBe("2");
      a.s.stop();
      b.s.stop();
    });

    it("fails over to another tab that resumes from the last cursor it was given", async () => {
      const server = fakeServer();
      const browser = fakeBrowser();
      const a = tab(server, browser.env(withLocks));
      const b = tab(server, browser.env(withLocks));
      const c = tab(server, browser.env(withLocks));
      a.s.start("1");
      await settleElection();
      b.s.start("1");
      c.s.start("1");
      await settleElection();
      server.last().send(`id: 7\ndata: ${note("n7")}\n\n`);
      await flush();
      a.s.stop(); // the leader's tab closes
      await settleElection();
      expect(server.conns[0]!.closed).toBe(true);
      const leaders = [b, c].filter((t) => t.s.isLeader);
      expect(leaders).toHaveLength(1);
      expect(server.conns.length).toBe(2);
      expect(server.last().call.headers["last-event-id"]).toBe("7");
      server.last().send(`id: 8\ndata: ${note("n8")}\n\n`);
      await flush();
      expect(b.events.map((e) => (e.kind === "notification" ? e.cursor : e.kind))).toEqual(["7", "8"]);
      expect(c.events.map((e) => (e.kind === "notification" ? e.cursor : e.kind))).toEqual(["7", "8"]);
      b.s.stop();
      c.s.stop();
    });

    it("pauses only when every tab is hidden", async () => {
      const server = fakeServer();
      const browser = fakeBrowser();
      const a = tab(server, browser.env(withLocks));
      const b = tab(server, browser.env(withLocks));
      a.s.start();
      await settleElection();
      b.s.start();
      await settleElection();
      a.vis.set(true); // the leader's tab is hidden, the other one is not
      await vi.advanceTimersByTimeAsync(20000);
      await flush();
      expect(server.conns[0]!.closed).toBe(false);
      b.vis.set(true);
      await flush();
      await vi.advanceTimersByTimeAsync(10000);
      await flush();
      expect(server.conns[0]!.closed).toBe(true);
      expect(a.s.status.state).toBe("paused");
      b.vis.set(false);
      await flush();
      expect(server.conns.length).toBe(2);
      a.s.stop();
      b.s.stop();
    });

    it("passes broadcast data to the other tabs", async () => {
      const server = fakeServer();
      const browser = fakeBrowser();
      const a = tab(server, browser.env(withLocks));
      const b = tab(server, browser.env(withLocks));
      const got: unknown[] = [];
      b.s.onPeer((d) => got.push(d));
      a.s.start();
      b.s.start();
      await settleElection();
      a.s.broadcast({ herald: "mark", action: "MARK_ACTION_READ", ids: ["x"] });
      await flush();
      expect(got).toEqual([{ herald: "mark", action: "MARK_ACTION_READ", ids: ["x"] }]);
      a.s.stop();
      b.s.stop();
    });
  });
}

describe("SharedStream without other tabs", () => {
  it("streams alone when tabs is null", async () => {
    const server = fakeServer();
    const s = new SharedStream({ getToken: tokens().getToken, fetch: server.fetch, tabs: null, visibility: null });
    s.start("4");
    await flush();
    expect(s.isLeader).toBe(true);
    expect(server.last().call.headers["last-event-id"]).toBe("4");
    s.stop();
  });

  it("ends a split of two leaders in the fallback election", async () => {
    const server = fakeServer();
    const browser = fakeBrowser();
    const a = tab(server, browser.env(false));
    const b = tab(server, browser.env(false));
    // Both start at once: both claim, the smaller ID wins.
    a.s.start();
    b.s.start();
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect([a.s.isLeader, b.s.isLeader].filter(Boolean)).toHaveLength(1);
    const open = server.conns.filter((c) => !c.closed);
    expect(open).toHaveLength(1);
    a.s.stop();
    b.s.stop();
  });
});
