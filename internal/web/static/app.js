// Herald demo page: a notification center on @heraldhq/client. The inbox
// (read state, unread and unseen counts, marks, archive, paging) is the
// package's InboxStore, kept current by one stream that all tabs of this
// origin showing the same user share; a live channel (a room) rides on
// that stream beside the inbox.
//
// Credentials: with a server in --dev the page takes tokens from
// /v1/dev/token. Where that answers 404 (a production server), or cannot
// be reached from another origin, the page asks for a user token and keeps
// it in this tab's sessionStorage only.
//
// Query parameters:
//   user=U       the user to connect as in --dev (default "alice")
//   room=C       the channel shown beside the inbox (default "rooms/lobby"
//                in --dev, none otherwise; empty: none); the dev token
//                carries a channels claim for it
//   herald=URL   Herald's base URL when this page is served from another
//                origin (default: this page's origin)
//   autoclose=N  after N notifications, close the stream and add
//                <div id="done">, so that a headless browser's --dump-dom,
//                which waits while a stream stays open, can finish; such a
//                page streams alone, not shared with other tabs.
//
// For tests, every notification and room message the stream delivers is
// in window.heraldEvents (arrival order; a room message has its channel),
// the inbox in the DOM as <li class="event" data-cursor data-type data-id
// data-read>, the counts as #unread[data-count] and #counts.

const params = new URLSearchParams(location.search);
const base = (params.get("herald") || "").replace(/\/+$/, "");
const autoclose = Math.max(0, parseInt(params.get("autoclose") || "0", 10) || 0);
const tokenKey = "herald.token";
const $ = (id) => document.getElementById(id);

const events = [];
window.heraldEvents = events;

let user = (params.get("user") || "alice").trim();
let room = "";
let devMode = false;
let herald = null; // the current client
let received = 0;
let finished = false;
const nodes = new Map(); // inbox entry ID → its <li>
let tokenWaiters = []; // getToken calls waiting for a pasted token

const { createHeraldClient } = await import(`${base}/herald-client.js`);

function setState(state, detail) {
  const el = $("state");
  el.dataset.state = state;
  el.textContent = detail ? `${state}: ${detail}` : state;
  document.body.dataset.state = state;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // text only: payloads are untrusted
  return node;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// devToken mints a development token; null when the server has none to
// give (404, or unreachable from another origin: /v1/dev/token has no CORS).
async function devToken() {
  const q = new URLSearchParams({ user });
  if (room) q.set("channels", room);
  let res;
  try {
    res = await fetch(`${base}/v1/dev/token?${q}`, { cache: "no-store" });
  } catch (err) {
    if (base) return null;
    throw err; // this origin's server is down: try again later
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`dev token: HTTP ${res.status}`);
  const body = await res.json();
  if (!body.token) throw new Error("dev token: empty response");
  return body.token;
}

// subject is a JWT's sub claim, shown as who the page is connected as.
function subject(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(part + "===".slice((part.length + 3) % 4));
    const sub = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))).sub;
    return typeof sub === "string" ? sub : "";
  } catch {
    return "";
  }
}

// pastedTokens answers the client with the token of the input; a refresh
// (the token was refused or expired) drops it and waits for a new one.
function pastedTokens() {
  return async ({ refresh }) => {
    const stale = sessionStorage.getItem(tokenKey);
    if (refresh || !stale) {
      sessionStorage.removeItem(tokenKey);
      askForToken(refresh ? "The token was refused or has expired: paste a new one." : "");
      return new Promise((resolve) => tokenWaiters.push(resolve));
    }
    return stale;
  };
}

// devTokens answers first with the token the mode check minted, then mints.
function devTokens(first) {
  let next = first;
  return async () => {
    const t = next || (await devToken());
    next = "";
    if (!t) throw new Error("no /v1/dev/token: the server left --dev");
    return t;
  };
}

function askForToken(why) {
  $("token-form").hidden = false;
  $("token-help").hidden = false;
  setState("token", why || "paste a user token");
}

function connect(getToken, who) {
  if (herald) herald.stop();
  clearPage();
  $("who").textContent = who || "?";
  $("send-user").textContent = who || "?";
  const client = createHeraldClient({
    baseUrl: base,
    getToken,
    channels: room ? [room] : undefined,
    // A page that closes itself after N streams alone: --dump-dom's
    // virtual time runs out while a tab waits for the browser to grant
    // it the tabs' lock, since only network fetches hold it back.
    tabs: autoclose ? null : undefined,
  });
  herald = client;
  client.inbox.subscribe(() => {
    if (client === herald) render(client.inbox.getSnapshot());
  });
  client.stream.on((ev) => {
    if (client === herald) onStreamEvent(ev);
  });
  client.stream.onStatus((s) => {
    if (client === herald && !finished) onStatus(s);
  });
  start(client);
}

// start loads the first page and opens the stream, trying again while the
// server cannot be reached.
async function start(client) {
  setState("connecting");
  for (let delay = 1000; client === herald; delay = Math.min(delay * 2, 30000)) {
    try {
      await client.start();
      return;
    } catch (err) {
      if (client !== herald) return;
      setState("error", `${err.message}; retry in ${delay / 1000} s`);
      await sleep(delay);
    }
  }
}

function onStatus(s) {
  switch (s.state) {
    case "waiting":
      setState("waiting", `${s.error ? s.error.message + "; " : ""}reconnect in ${Math.round(s.retryIn / 100) / 10} s`);
      return;
    case "following":
      setState("following", `another tab holds the stream${s.leader ? ` (${s.leader})` : ""}`);
      return;
    default:
      setState(s.state, s.error ? s.error.message : "");
  }
}

function onStreamEvent(ev) {
  switch (ev.kind) {
    case "notification": {
      const n = ev.notification;
      const item = {
        cursor: ev.cursor,
        type: ev.event,
        id: n.id,
        title: n.title || "",
        body: n.body || "",
        topic: n.topic || "",
        channel: n.channel || "",
        data: n.data,
        created_at: n.created_at || "",
      };
      events.push(item);
      received++;
      $("count").textContent = String(received);
      if (item.channel) renderRoom(item);
      if (autoclose && received >= autoclose) finish();
      return;
    }
    case "reset":
      log("reset", ev.channel
        ? `History gap in ${ev.channel}: older messages were removed. Live from here on.`
        : "History gap: older notifications were removed; the inbox is loaded again.");
      return;
    case "control":
      log(ev.event, ev.event === "token-expired"
        ? "Token expired: reconnecting with a new one."
        : "Server shutting down: the stream reconnects and resumes by itself.");
      return;
  }
}

function render(snap) {
  const { unread, unseen } = snap.counts;
  const badge = $("unread");
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.dataset.count = String(unread);
  $("bell").dataset.unseen = String(unseen);
  $("counts").textContent = `${unread} unread · ${unseen} unseen`;

  const list = $("events");
  const keep = new Set();
  let prev = null;
  for (const entry of snap.entries) {
    const id = entry.event.id;
    keep.add(id);
    let li = nodes.get(id);
    if (!li) {
      li = entryNode(entry.event);
      nodes.set(id, li);
    }
    li.dataset.read = String(entry.read);
    li.dataset.seen = String(entry.seen);
    const toggle = li.querySelector('[data-action="read"], [data-action="unread"]');
    toggle.dataset.action = entry.read ? "unread" : "read";
    toggle.textContent = entry.read ? "Mark unread" : "Mark read";
    // Keep nodes (and the focus on their buttons); move only what is out of place.
    const at = prev ? prev.nextSibling : list.firstChild;
    if (at !== li) list.insertBefore(li, at);
    prev = li;
  }
  for (const [id, li] of nodes) {
    if (!keep.has(id)) {
      li.remove();
      nodes.delete(id);
    }
  }
  $("empty").hidden = snap.entries.length > 0 || snap.status === "loading";
  const more = $("load-more");
  more.hidden = !snap.hasMore;
  more.disabled = snap.loadingMore;
  more.textContent = snap.loadingMore ? "Loading…" : "Load more";
  if (snap.status === "error" && snap.error) $("inbox-result").textContent = `inbox: ${snap.error.message}`;
}

function entryNode(e) {
  const li = el("li", "event");
  li.dataset.cursor = e.cursor;
  li.dataset.type = e.type;
  li.dataset.id = e.id;
  li.append(el("span", "cursor", `#${e.cursor}`));
  const main = el("div", "main");
  main.append(el("span", "type", e.topic ? `${e.type} · ${e.topic}` : e.type));
  main.append(el("div", "title", e.title));
  if (e.body) main.append(el("div", "body", e.body));
  if (e.data && Object.keys(e.data).length > 0) main.append(el("pre", "data", JSON.stringify(e.data, null, 2)));
  li.append(main);
  const side = el("div", "side");
  side.append(timeNode(e.create_time));
  const actions = el("div", "actions");
  const toggle = el("button", "secondary", "Mark read");
  toggle.type = "button";
  toggle.dataset.action = "read";
  const archive = el("button", "secondary", "Archive");
  archive.type = "button";
  archive.dataset.action = "archive";
  for (const b of [toggle, archive]) b.setAttribute("aria-describedby", `title-${e.id}`);
  main.querySelector(".title").id = `title-${e.id}`;
  actions.append(toggle, archive);
  side.append(actions);
  li.append(side);
  return li;
}

function renderRoom(item) {
  const li = el("li", "event");
  li.dataset.cursor = item.cursor;
  li.dataset.type = item.type;
  li.dataset.id = item.id;
  li.append(el("span", "cursor", ""));
  const main = el("div", "main");
  main.append(el("span", "type", item.type));
  main.append(el("div", "title", item.title));
  if (item.body) main.append(el("div", "body", item.body));
  li.append(main, timeNode(item.created_at));
  const list = $("room-events");
  list.prepend(li);
  while (list.children.length > 100) list.lastElementChild.remove();
}

function timeNode(iso) {
  const d = iso ? new Date(iso) : new Date();
  const t = el("time", "time", isNaN(d) ? "" : d.toLocaleTimeString());
  if (iso) t.dateTime = iso;
  return t;
}

function log(event, text) {
  const li = el("li", "control");
  li.dataset.event = event;
  li.append(el("time", "time", new Date().toLocaleTimeString()), el("span", "", `${event}: ${text}`));
  const list = $("log");
  list.prepend(li);
  while (list.children.length > 50) list.lastElementChild.remove();
}

function finish() {
  finished = true;
  herald.stop();
  setState("closed", `autoclose after ${received} events`);
  const done = el("div", "", `${received} events`);
  done.id = "done";
  document.body.append(done);
}

function clearPage() {
  events.length = 0;
  received = 0;
  finished = false;
  nodes.clear();
  $("count").textContent = "0";
  $("events").replaceChildren();
  $("room-events").replaceChildren();
  $("inbox-result").textContent = "";
  render({ counts: { unread: 0, unseen: 0 }, entries: [], status: "loading", hasMore: false, loadingMore: false });
}

// act runs a mark and says so; the store shows it at once and undoes it if
// the server refuses.
async function act(what, p) {
  const out = $("inbox-result");
  out.textContent = "";
  try {
    await p;
  } catch (err) {
    out.textContent = `${what} failed: ${err.message}`;
  }
}

$("events").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-action]");
  const li = button && button.closest("li.event");
  if (!li || !herald) return;
  const id = li.dataset.id;
  const inbox = herald.inbox;
  switch (button.dataset.action) {
    case "read":
      act("mark read", inbox.markRead(id));
      break;
    case "unread":
      act("mark unread", inbox.markUnread(id));
      break;
    case "archive": {
      // The entry leaves the list: put the focus somewhere that stays.
      const next = li.nextElementSibling || li.previousElementSibling;
      (next ? next.querySelector("button") : $("events-title")).focus();
      act("archive", inbox.archive(id));
      break;
    }
  }
});

$("mark-all").addEventListener("click", () => {
  if (herald) act("mark all read", herald.inbox.markAllRead());
});

$("load-more").addEventListener("click", () => {
  if (herald) act("load more", herald.inbox.loadMore());
});

// The bell opens the list: what it shows has been seen.
$("bell").addEventListener("click", () => {
  $("events-title").focus();
  if (herald) act("mark all seen", herald.inbox.markAllSeen());
});

$("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const next = $("user").value.trim();
  if (!next) return;
  user = next;
  const first = await devToken().catch(() => "");
  connect(devTokens(first), user);
});

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  $("token").value = "";
  const who = subject(token);
  const sameUser = herald && who !== "" && who === $("who").textContent;
  sessionStorage.setItem(tokenKey, token);
  $("token-form").hidden = true;
  $("token-help").hidden = true;
  const waiting = tokenWaiters;
  tokenWaiters = [];
  if (sameUser && waiting.length > 0) {
    for (const resolve of waiting) resolve(token); // the session goes on with the fresh token
  } else {
    connect(pastedTokens(), who);
  }
});

async function post(out, notification, ok) {
  out.textContent = "sending…";
  try {
    const res = await fetch(`${base}/v1/notify`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(notification),
    });
    const body = await res.json().catch(() => ({}));
    out.textContent = res.ok ? ok(body) : `error ${res.status}: ${body.message || res.statusText}`;
  } catch (err) {
    out.textContent = `error: ${err.message}`;
  }
}

$("notify-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const notification = {
    audience: { user_ids: [user] },
    title: form.elements.title.value,
    body: form.elements.body.value,
  };
  const type = form.elements.type.value.trim();
  if (type) notification.type = type;
  const data = form.elements.data.value.trim();
  if (data) {
    try {
      notification.data = JSON.parse(data);
    } catch (err) {
      $("send-result").textContent = `data is not JSON: ${err.message}`;
      return;
    }
  }
  post($("send-result"), notification, (b) => `sent ${b.id} to ${b.recipients ?? 0} recipient(s)`);
});

$("room-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  post($("room-result"), {
    audience: { channels: [room] },
    type: "chat.message",
    title: ev.target.elements.text.value,
    data: { from: user },
  }, (b) => `posted ${b.id}`);
});

// init finds out whether the server hands out development tokens, then
// connects with one, or with a pasted token.
async function init() {
  room = (params.has("room") ? params.get("room") : "rooms/lobby").trim();
  for (let delay = 1000; ; delay = Math.min(delay * 2, 30000)) {
    try {
      const first = await devToken();
      devMode = first !== null;
      if (devMode) {
        $("user-form").hidden = false;
        $("send-card").hidden = false;
        $("room-form").hidden = false;
        $("user").value = user;
        connect(devTokens(first), user);
        break;
      }
      // Production: a room only when asked for, since the token must open it.
      if (!params.has("room")) room = "";
      const saved = sessionStorage.getItem(tokenKey);
      if (saved) connect(pastedTokens(), subject(saved));
      else askForToken("");
      break;
    } catch (err) {
      setState("error", `${err.message}; retry in ${delay / 1000} s`);
      await sleep(delay);
    }
  }
  $("room-name").textContent = room;
  $("room-card").hidden = !room;
}

init();
