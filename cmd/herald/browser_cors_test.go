package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// crossOriginPage is a page of origin A that uses Herald at origin B the
// way a frontend on its own domain does: the inbox with the Authorization
// header (each call preflighted), a mark, then a stream ticket and an
// EventSource with events=message, whose onmessage sees every type. It
// reports into the DOM: body[data-state] and <pre id="result">.
const crossOriginPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>cross-origin</title></head>
<body data-state="loading"><pre id="result"></pre>
<script>
const B = %q, token = %q;
const out = {inbox: null, mark: null, types: [], errors: []};
const report = () => { document.getElementById("result").textContent = JSON.stringify(out); };
const auth = {Authorization: "Bearer " + token};
(async () => {
  try {
    const r = await fetch(B + "/v1/inbox?page_size=10", {headers: auth});
    const inbox = await r.json();
    out.inbox = {status: r.status, titles: inbox.entries.map(e => e.event.title), unread: inbox.counts.unread};
    const m = await fetch(B + "/v1/inbox:mark", {method: "POST", headers: {...auth, "Content-Type": "application/json"},
      body: JSON.stringify({action: "MARK_ACTION_READ", up_to_cursor: inbox.stream_cursor})});
    const mark = await m.json();
    out.mark = {status: m.status, changed: mark.changed, unread: mark.counts.unread};
    const t = await fetch(B + "/v1/stream-tickets", {method: "POST", headers: auth});
    const ticket = await t.json();
    const es = new EventSource(B + "/v1/stream?events=message&lastEventId=" + encodeURIComponent(inbox.stream_cursor) +
      "&ticket=" + encodeURIComponent(ticket.ticket));
    es.onopen = () => { document.body.dataset.state = "open"; report(); };
    es.onmessage = (e) => {
      out.types.push(JSON.parse(e.data).type);
      report();
      if (out.types.length >= 2) { es.close(); document.body.dataset.state = "done"; }
    };
    es.onerror = () => { out.errors.push("EventSource error, readyState " + es.readyState); report(); };
  } catch (e) {
    out.errors.push(String(e));
    document.body.dataset.state = "error";
  }
  report();
})();
</script></body></html>`

// TestCrossOriginBrowser runs Chromium on a page of one origin against
// Herald on another (listed in --cors-origins): the inbox, a mark, a
// ticket and an EventSource from the ticket with events=message, whose
// onmessage receives notifications of two types that have no listener.
func TestCrossOriginBrowser(t *testing.T) {
	t.Parallel()
	chromium := testenv.NeedCommand(t, "chromium", "Debian package chromium")
	driver := testenv.NeedCommand(t, "chromedriver", "Debian package chromium-driver")
	const user = "cors-user"

	// Origin A, the page's: a port of its own on 127.0.0.1. Herald is
	// origin B, on another port, which is another origin.
	var page string
	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(pages.Close)
	s := startServer(t, withArgs("--cors-origins="+pages.URL))
	page = fmt.Sprintf(crossOriginPage, s.URL(""), token(t, user))

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	send := func(typ, title string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"audience": map[string]any{"user_ids": []string{user}}, "type": typ, "title": title})
		if err := restNotify(ctx, s.URL(""), string(body)); err != nil {
			t.Fatal(err)
		}
	}
	send("order.shipped", "shipped 1")
	send("order.shipped", "shipped 2")

	wd := startWebDriver(t, driver, chromium)
	wd.open(t, pages.URL+"/")
	wd.waitFor(t, "the stream to open", `return ["open", "error"].includes(document.body.dataset.state)`)
	send("invoice.paid", "paid")
	send("comment.created", "commented")
	wd.waitFor(t, "two events", `return ["done", "error"].includes(document.body.dataset.state)`)

	var raw string
	wd.exec(t, `return document.getElementById("result").textContent`, &raw)
	var got struct {
		Inbox struct {
			Status int
			Titles []string
			Unread int
		}
		Mark struct {
			Status, Changed, Unread int
		}
		Types  []string
		Errors []string
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("page result %q: %v", raw, err)
	}
	if len(got.Errors) > 0 {
		t.Errorf("page errors: %q", got.Errors)
	}
	if got.Inbox.Status != 200 || !slices.Equal(got.Inbox.Titles, []string{"shipped 2", "shipped 1"}) || got.Inbox.Unread != 2 {
		t.Errorf("inbox = %+v, want 200, both entries newest first, 2 unread", got.Inbox)
	}
	if got.Mark.Status != 200 || got.Mark.Changed != 2 || got.Mark.Unread != 0 {
		t.Errorf("mark = %+v, want 200, 2 changed, 0 unread", got.Mark)
	}
	if strings.Join(got.Types, ",") != "invoice.paid,comment.created" {
		t.Errorf("onmessage saw %q, want invoice.paid and comment.created", got.Types)
	}
}
