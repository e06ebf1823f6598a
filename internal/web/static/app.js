// Herald demo page: one user's live notification stream over EventSource,
// and a live channel (a room) on the same stream.
//
// Query parameters:
//   user=U       the user to connect as (default "alice")
//   room=C       the channel shown beside the inbox (default "rooms/lobby";
//                empty: none); the dev token carries a channels claim for it
//   types=a,b    extra event types to listen for (see below)
//   autoclose=N  after N notifications, close the stream and add <div id="done">,
//                so that a headless browser's --dump-dom can finish: it waits
//                while a stream stays open.
//
// For tests, every notification and room message is in window.heraldEvents
// (arrival order; a room message has its channel) and in the DOM as
// <li class="event" data-cursor data-type data-id>.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const autoclose = Math.max(0, parseInt(params.get("autoclose") || "0", 10) || 0);
  const $ = (id) => document.getElementById(id);

  const events = [];
  window.heraldEvents = events;

  // Herald names each SSE event after the notification's type, and
  // EventSource delivers a named event only to listeners of that exact name:
  // there is no wildcard. So listen for the default type, the types given in
  // ?types=, and every type sent from this page.
  const types = new Set(["notification", "message", "chat.message"]);
  const room = (params.has("room") ? params.get("room") : "rooms/lobby").trim();
  for (const t of (params.get("types") || "").split(",")) {
    if (t.trim()) types.add(t.trim());
  }

  let user = (params.get("user") || "alice").trim();
  let source = null;     // the current EventSource
  let lastCursor = "";   // the newest cursor seen, to resume from
  let generation = 0;    // bumped on every (re)open; stale callbacks check it
  let retryTimer = 0;
  let retryDelay = 1000; // for reopening after a refused stream, doubled up to 30 s
  let received = 0;
  let finished = false;

  function setState(state, detail) {
    const el = $("state");
    el.dataset.state = state;
    el.textContent = detail ? `${state}: ${detail}` : state;
    document.body.dataset.state = state;
  }

  function setCursor(cursor) {
    if (!cursor) return;
    lastCursor = cursor;
    $("last-cursor").textContent = cursor;
  }

  async function fetchToken() {
    const q = new URLSearchParams({ user });
    if (room) q.set("channels", room);
    const res = await fetch(`/v1/dev/token?${q}`, { cache: "no-store" });
    if (res.status === 404) throw new Error("no /v1/dev/token: start the server with --dev");
    if (!res.ok) throw new Error(`dev token: HTTP ${res.status}`);
    const body = await res.json();
    if (!body.token) throw new Error("dev token: empty response");
    return body.token;
  }

  // open (re)connects with a fresh token, resuming after lastCursor.
  async function open() {
    const gen = ++generation;
    clearTimeout(retryTimer);
    if (source) source.close();
    source = null;
    if (finished) return;
    setState("connecting");

    let token;
    try {
      token = await fetchToken();
    } catch (err) {
      if (gen === generation) reopenLater(err.message);
      return;
    }
    if (gen !== generation) return; // superseded while fetching

    const query = new URLSearchParams({ access_token: token });
    if (room) query.set("channels", room);
    // A new EventSource starts with an empty Last-Event-ID, so pass the
    // cursor as a query parameter. On its own reconnects (after a server
    // restart, say) the browser sends the Last-Event-ID header, which the
    // server prefers.
    if (lastCursor) query.set("lastEventId", lastCursor);
    const es = new EventSource(`/v1/stream?${query}`);
    source = es;
    const current = () => gen === generation;

    es.onopen = () => {
      if (!current()) return;
      retryDelay = 1000;
      setState("open");
    };
    es.onerror = () => {
      if (!current()) return;
      if (es.readyState === EventSource.CONNECTING) {
        setState("reconnecting"); // the browser retries by itself
      } else {
        // CLOSED: the server refused the stream, e.g. a token that expired
        // while it was down. Start over with a new token.
        reopenLater("stream refused");
      }
    };
    for (const t of types) listen(es, t);
    es.addEventListener("reset", (e) => {
      if (!current()) return;
      setCursor(e.lastEventId);
      let channel = "";
      try {
        channel = JSON.parse(e.data).channel || "";
      } catch {}
      addControl(e, channel
        ? `History gap in ${channel}: older messages were removed. Live from here on.`
        : "History gap: older notifications were removed; refetch the inbox. Live from here on.");
    });
    es.addEventListener("token-expired", (e) => {
      if (!current()) return;
      addControl(e, "Token expired: reconnecting with a new one.");
      open();
    });
    es.addEventListener("shutdown", (e) => {
      if (!current()) return;
      addControl(e, "Server shutting down: the browser reconnects and resumes by itself.");
      setState("reconnecting", "server restarting");
    });
  }

  function reopenLater(reason) {
    if (source) source.close();
    source = null;
    setState("reconnecting", `${reason}; retry in ${Math.round(retryDelay / 1000)} s`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(open, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function listen(es, type) {
    es.addEventListener(type, (e) => {
      if (es === source) onNotification(e);
    });
  }

  function onNotification(e) {
    let payload;
    try {
      payload = JSON.parse(e.data);
    } catch {
      payload = { title: e.data };
    }
    setCursor(e.lastEventId);
    const item = {
      cursor: e.lastEventId,
      type: e.type,
      id: payload.id || "",
      title: payload.title || "",
      body: payload.body || "",
      topic: payload.topic || "",
      channel: payload.channel || "",
      data: payload.data,
      created_at: payload.created_at || "",
    };
    events.push(item);
    received++;
    $("count").textContent = String(received);
    render(item);
    if (autoclose && received >= autoclose) finish();
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // text only: payloads are untrusted
    return node;
  }

  function render(item) {
    const li = el("li", "event");
    li.dataset.cursor = item.cursor;
    li.dataset.type = item.type;
    li.dataset.id = item.id;
    li.append(el("span", "cursor", item.channel ? "" : `#${item.cursor}`));
    const main = el("div", "main");
    main.append(el("span", "type", item.topic ? `${item.type} · ${item.topic}` : item.type));
    main.append(el("div", "title", item.title));
    if (item.body) main.append(el("div", "body", item.body));
    li.append(main);
    const time = el("time", "time", formatTime(item.created_at));
    if (item.created_at) time.dateTime = item.created_at;
    li.append(time);
    if (item.channel) {
      $("room-events").prepend(li);
    } else {
      prepend(li);
    }
  }

  function addControl(e, text) {
    const li = el("li", "control");
    li.dataset.event = e.type;
    li.append(el("span", "cursor", e.lastEventId ? `#${e.lastEventId}` : ""));
    li.append(el("div", "title", `${e.type}: ${text}`));
    prepend(li);
  }

  function prepend(li) {
    $("empty").hidden = true;
    $("events").prepend(li);
  }

  function formatTime(iso) {
    const d = iso ? new Date(iso) : new Date();
    return isNaN(d) ? "" : d.toLocaleTimeString();
  }

  function finish() {
    finished = true;
    generation++;
    clearTimeout(retryTimer);
    if (source) source.close();
    source = null;
    setState("closed", `autoclose after ${received} events`);
    const done = el("div", "", `${received} events`);
    done.id = "done";
    document.body.append(done);
  }

  function clearEvents() {
    events.length = 0;
    received = 0;
    lastCursor = "";
    $("count").textContent = "0";
    $("last-cursor").textContent = "none";
    $("events").replaceChildren();
    $("room-events").replaceChildren();
    $("empty").hidden = false;
  }

  $("user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = $("user").value.trim();
    if (!next) return;
    if (next !== user) {
      user = next;
      $("send-user").textContent = user;
      clearEvents(); // cursors belong to one user's stream
    }
    finished = false;
    retryDelay = 1000;
    open();
  });

  $("notify-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const type = form.elements.type.value.trim();
    if (type && !types.has(type)) {
      types.add(type);
      if (source) listen(source, type);
    }
    const notification = {
      audience: { user_ids: [user] },
      title: form.elements.title.value,
      body: form.elements.body.value,
    };
    if (type) notification.type = type;
    const out = $("send-result");
    out.textContent = "sending…";
    try {
      const res = await fetch("/v1/notify", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(notification),
      });
      const body = await res.json().catch(() => ({}));
      out.textContent = res.ok
        ? `sent ${body.id} to ${body.recipients ?? 0} recipient(s)`
        : `error ${res.status}: ${body.message || res.statusText}`;
    } catch (err) {
      out.textContent = `error: ${err.message}`;
    }
  });

  $("room-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const out = $("room-result");
    out.textContent = "posting…";
    try {
      const res = await fetch("/v1/notify", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          audience: { channels: [room] },
          type: "chat.message",
          title: form.elements.text.value,
          data: { from: user },
        }),
      });
      const body = await res.json().catch(() => ({}));
      out.textContent = res.ok ? `posted ${body.id}` : `error ${res.status}: ${body.message || res.statusText}`;
    } catch (err) {
      out.textContent = `error: ${err.message}`;
    }
  });

  if (room) {
    $("room-name").textContent = room;
  } else {
    $("room-card").hidden = true;
  }
  $("user").value = user;
  $("send-user").textContent = user;
  open();
})();
