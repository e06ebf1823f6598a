package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/web"
)

// The demo page is a notification center on the browser client package
// (internal/web, sdk/js). These tests drive it in headless Chromium through
// chromedriver against the real server.

const sseActive = `herald_stream_active{transport="sse"}`

// TestNotificationCenterTwoTabsOneStream opens the page in two tabs for one
// user: a notification sent over REST shows in both lists while the server
// holds one stream for them, and marking it read in one tab updates the
// other's count. The page is served by Herald itself, or from another
// origin that loads Herald's /herald-client.js and calls Herald
// cross-origin with a pasted production token.
func TestNotificationCenterTwoTabsOneStream(t *testing.T) {
	t.Parallel()
	chromium := testenv.NeedCommand(t, "chromium", "Debian package chromium")
	driver := testenv.NeedCommand(t, "chromedriver", "Debian package chromium-driver")

	t.Run("same-origin", func(t *testing.T) {
		s := startServer(t, withArgs("--dev"))
		wd := startWebDriver(t, driver, chromium)
		twoTabs(t, s, wd, s.URL("/?user=tabuser&room="), "tabuser", func() {})
	})

	t.Run("cross-origin", func(t *testing.T) {
		// The page's origin must be known before Herald starts, to be
		// listed in --cors-origins; Herald's before the page is served, to
		// be allowed by the page's CSP.
		var heraldOrigin string
		page := httptest.NewUnstartedServer(withCSP(web.Handler(), func() string { return heraldOrigin }))
		t.Cleanup(page.Close)
		pageOrigin := "http://" + page.Listener.Addr().String()
		s := startServer(t, withArgs("--cors-origins="+pageOrigin)) // no --dev: production tokens
		if !inboxAllowsOrigin(t, s, pageOrigin) {
			t.Fatal("OPTIONS /v1/inbox from " + pageOrigin + " is not answered 204 with Access-Control-Allow-Origin")
		}
		heraldOrigin = "http://" + s.HTTPAddr
		page.Start()
		wd := startWebDriver(t, driver, chromium)
		tok := token(t, "crossuser")
		pageURL := pageOrigin + "/?room=&herald=" + url.QueryEscape(heraldOrigin)
		twoTabs(t, s, wd, pageURL, "crossuser", func() { pasteToken(t, wd, tok) })
	})
}

// twoTabs opens pageURL in two tabs (login gives each its credentials) and
// checks that they share one stream, both list a new notification, and a
// mark in one reaches the other.
func twoTabs(t *testing.T, s *server, wd *webDriver, pageURL, user string, login func()) {
	t.Helper()
	wd.open(t, pageURL)
	login()
	wd.waitFor(t, "tab 1's stream to open", `return document.body.dataset.state === "open"`)
	tab1 := wd.window(t)
	tab2 := wd.newTab(t)
	wd.open(t, pageURL)
	login()
	wd.waitFor(t, "tab 2 to follow tab 1's stream", `return document.body.dataset.state === "following"`)
	waitMetric(t, s, sseActive, 1, 10*time.Second)

	id := notifyREST(t, s, "to both tabs", user)
	entry := `document.querySelector('#events li.event[data-id=` + strconv.Quote(id) + `]')`
	unread := `document.getElementById("unread").dataset.count`
	for i, tab := range []string{tab1, tab2} {
		wd.switchTo(t, tab)
		wd.waitFor(t, fmt.Sprintf("tab %d to list the notification as unread", i+1),
			`const li = `+entry+`; return !!li && li.dataset.read === "false" && `+unread+` === "1"`)
	}
	if got := metricValue(t, s, sseActive); got != 1 {
		t.Errorf("%s = %v with two tabs open, want 1", sseActive, got)
	}

	wd.switchTo(t, tab1)
	wd.exec(t, entry+`.querySelector('button[data-action="read"]').click(); return true`, nil)
	wd.waitFor(t, "tab 1 to show it read", `return `+entry+`.dataset.read === "true" && `+unread+` === "0"`)
	wd.switchTo(t, tab2)
	wd.waitFor(t, "tab 2's count to follow the mark made in tab 1", `return `+unread+` === "0" && `+entry+`.dataset.read === "true"`)
	if got := metricValue(t, s, sseActive); got != 1 {
		t.Errorf("%s = %v after the mark, want 1", sseActive, got)
	}
}

// TestNotificationCenterResumesAfterRestartAndKill runs the page against a
// production-mode server (a pasted token), restarts the server gracefully
// and then kills it with SIGKILL, each time on the same data directory and
// port, and checks that the page's stream resumes: every notification
// acknowledged before, right after the restart (before the page is back)
// and after it is listed exactly once, and the stream delivered each once.
func TestNotificationCenterResumesAfterRestartAndKill(t *testing.T) {
	t.Parallel()
	chromium := testenv.NeedCommand(t, "chromium", "Debian package chromium")
	driver := testenv.NeedCommand(t, "chromedriver", "Debian package chromium-driver")
	const user = "resumer"
	addr := freeAddr(t)
	dir := t.TempDir()
	args := withArgs("--http-addr=" + addr)
	s := startServer(t, args, withDataDir(dir))

	wd := startWebDriver(t, driver, chromium)
	wd.open(t, "http://"+addr+"/?room=")
	pasteToken(t, wd, token(t, user))
	wd.waitFor(t, "the stream to open", `return document.body.dataset.state === "open"`)

	var acked []string
	send := func(title string) { acked = append(acked, notifyREST(t, s, title, user)) }
	send("before")
	waitListed(t, wd, acked)

	for _, stop := range []struct {
		name string
		stop func(*server)
	}{
		{"SIGTERM", (*server).Stop},
		{"SIGKILL", (*server).Kill},
	} {
		stop.stop(s)
		s = startServer(t, args, withDataDir(dir))
		send("right after " + stop.name)
		waitMetric(t, s, sseActive, 1, 30*time.Second) // the page is back
		send("after " + stop.name)
		waitListed(t, wd, acked)
	}
}

// waitListed waits until the page lists as many entries as ids, then
// checks that they are ids, each once, that the stream delivered each once
// and in order, and that all of them count as unread.
func waitListed(t *testing.T, wd *webDriver, ids []string) {
	t.Helper()
	wd.waitFor(t, fmt.Sprintf("%d entries in the list", len(ids)),
		fmt.Sprintf(`return document.querySelectorAll("#events li.event").length >= %d`, len(ids)))
	var got struct {
		Listed    []string `json:"listed"`
		Delivered []string `json:"delivered"`
		Unread    string   `json:"unread"`
	}
	wd.exec(t, `return {
		listed: [...document.querySelectorAll("#events li.event")].map(li => li.dataset.id),
		delivered: window.heraldEvents.filter(e => !e.channel).map(e => e.id),
		unread: document.getElementById("unread").dataset.count,
	}`, &got)
	// The list is newest first.
	listed := slices.Clone(got.Listed)
	slices.Reverse(listed)
	if !slices.Equal(listed, ids) {
		t.Errorf("page lists %v (oldest first), want %v", listed, ids)
	}
	if !slices.Equal(got.Delivered, ids) {
		t.Errorf("stream delivered %v, want each of %v once, in order", got.Delivered, ids)
	}
	if want := strconv.Itoa(len(ids)); got.Unread != want {
		t.Errorf("unread count = %s, want %s", got.Unread, want)
	}
}

// notifyREST sends a notification to user through POST /v1/notify with the
// test API key and returns its ID once acknowledged.
func notifyREST(t *testing.T, s *server, title, user string) string {
	t.Helper()
	r := restWithKey(t, s, http.MethodPost, "/v1/notify", testAPIKey, notifyBody(title, user))
	id, _ := r.body["id"].(string)
	if r.status != http.StatusOK || id == "" {
		t.Fatalf("POST /v1/notify: %d %v", r.status, r.body)
	}
	return id
}

// pasteToken waits for the page to ask for a token (a server without
// --dev), then submits tok in the page's token form.
func pasteToken(t *testing.T, wd *webDriver, tok string) {
	t.Helper()
	wd.waitFor(t, "the page to ask for a token", `return !document.getElementById("token-form").hidden`)
	q, _ := json.Marshal(tok)
	wd.exec(t, `document.getElementById("token").value = `+string(q)+`;
		document.getElementById("token-form").requestSubmit(); return true`, nil)
}

// inboxAllowsOrigin reports whether s answers a CORS preflight of GET
// /v1/inbox from origin with 204 and Access-Control-Allow-Origin.
func inboxAllowsOrigin(t *testing.T, s *server, origin string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, s.URL("/v1/inbox"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodGet)
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent && resp.Header.Get("Access-Control-Allow-Origin") != ""
}

// withCSP serves h with a Content-Security-Policy that also allows
// Herald's origin (heraldOrigin, read per request), as a page served apart
// from Herald needs to load /herald-client.js and call the API; the page's
// own policy allows only its origin.
func withCSP(h http.Handler, heraldOrigin func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&cspWriter{ResponseWriter: w, csp: "default-src 'self' " + heraldOrigin() +
			"; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"}, r)
	})
}

// cspWriter replaces the handler's Content-Security-Policy as the header
// is written.
type cspWriter struct {
	http.ResponseWriter
	csp   string
	wrote bool
}

func (w *cspWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Set("Content-Security-Policy", w.csp)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cspWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
