package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestDemoPageResumesAfterRestart opens the demo page in headless Chromium
// (driven through chromedriver, so that real timers run while the server is
// down), restarts the server, and checks that the page's EventSource resumes
// with Last-Event-ID and receives what was sent meanwhile, none lost.
func TestDemoPageResumesAfterRestart(t *testing.T) {
	t.Parallel()
	chromium := testenv.NeedCommand(t, "chromium", "Debian package chromium")
	driver := testenv.NeedCommand(t, "chromedriver", "Debian package chromium-driver")
	addr := freeAddr(t)
	dir := t.TempDir()
	args := withArgs("--dev", "--http-addr="+addr)
	s := startServer(t, args, withDataDir(dir))

	wd := startWebDriver(t, driver, chromium)
	wd.open(t, "http://"+addr+"/?user=webuser&room=") // no room: the plain inbox cursor
	wd.waitFor(t, "the stream to open", `return document.body.dataset.state === "open"`)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := notifyUser(ctx, s.notifyClient(t), "webuser", "before restart"); err != nil {
		t.Fatal(err)
	}
	wd.waitFor(t, "the first event", `return (window.heraldEvents || []).length >= 1`)

	s.Stop()
	s2 := startServer(t, args, withDataDir(dir))
	c2 := s2.notifyClient(t)
	for _, title := range []string{"after restart 1", "after restart 2"} {
		if _, err := notifyUser(ctx, c2, "webuser", title); err != nil {
			t.Fatal(err)
		}
	}
	wd.waitFor(t, "the events sent during the restart", `return (window.heraldEvents || []).length >= 3`)

	var got [][2]string
	wd.exec(t, `return window.heraldEvents.map(e => [e.cursor, e.title])`, &got)
	want := [][2]string{{"1", "before restart"}, {"2", "after restart 1"}, {"3", "after restart 2"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("page received %v, want %v", got, want)
	}
}

// TestDemoPageResumesRoomAndInbox opens the demo page with a room (a
// channel streamed beside the inbox on one EventSource), restarts the
// server, and checks that the browser's own reconnect, with its one
// Last-Event-ID, resumes both: what was sent to the user and posted to the
// room meanwhile arrives, none lost and none twice.
func TestDemoPageResumesRoomAndInbox(t *testing.T) {
	t.Parallel()
	chromium := testenv.NeedCommand(t, "chromium", "Debian package chromium")
	driver := testenv.NeedCommand(t, "chromedriver", "Debian package chromium-driver")
	addr := freeAddr(t)
	dir := t.TempDir()
	args := withArgs("--dev", "--http-addr="+addr)
	s := startServer(t, args, withDataDir(dir))

	wd := startWebDriver(t, driver, chromium)
	wd.open(t, "http://"+addr+"/?user=roomuser&room=rooms/demo")
	wd.waitFor(t, "the stream to open", `return document.body.dataset.state === "open"`)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	send := func(c heraldv1.NotifyServiceClient, aud *heraldv1.Audience, title string) {
		t.Helper()
		if _, err := c.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
			Audience: aud, Type: "chat.message", Title: title,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	user := &heraldv1.Audience{UserIds: []string{"roomuser"}}
	room := &heraldv1.Audience{Channels: []string{"rooms/demo"}}
	c := s.notifyClient(t)
	send(c, user, "inbox 1")
	send(c, room, "room 1")
	wd.waitFor(t, "the first two events", `return (window.heraldEvents || []).length >= 2`)

	s.Stop()
	s2 := startServer(t, args, withDataDir(dir))
	c2 := s2.notifyClient(t)
	send(c2, room, "room 2")
	send(c2, user, "inbox 2")
	send(c2, room, "room 3")
	wd.waitFor(t, "the events sent during the restart", `return (window.heraldEvents || []).length >= 5`)

	var got [][2]string
	wd.exec(t, `return window.heraldEvents.map(e => [e.channel, e.title])`, &got)
	// Each source in its own order. How the two interleave depends on
	// whether the browser was back before the sends (live order) or after
	// (replay, the inbox first).
	bySource := map[string][]string{}
	for _, e := range got {
		bySource[e[0]] = append(bySource[e[0]], e[1])
	}
	want := map[string][]string{"": {"inbox 1", "inbox 2"}, "rooms/demo": {"room 1", "room 2", "room 3"}}
	if len(got) != 5 || fmt.Sprint(bySource) != fmt.Sprint(want) {
		t.Errorf("page received %v, want per source %v", got, want)
	}
}

// webDriver is a minimal W3C WebDriver client for one chromedriver session.
type webDriver struct {
	base    string
	session string
}

func startWebDriver(t *testing.T, driver, chromium string) *webDriver {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	cmd := exec.Command(driver, "--port="+port, "--allowed-ips=127.0.0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	wd := &webDriver{base: "http://127.0.0.1:" + port}
	var lastErr error
	waitFor(t, 20*time.Second, func() bool {
		resp, err := http.Get(wd.base + "/status")
		if lastErr = err; err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, func() string { return fmt.Sprintf("chromedriver did not start: %v", lastErr) })
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--user-data-dir=" + t.TempDir(),
			},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	wd.call(t, http.MethodPost, "/session", caps, &created)
	if created.SessionID == "" {
		t.Fatal("chromedriver returned no session")
	}
	wd.session = created.SessionID
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, wd.base+"/session/"+wd.session, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	return wd
}

func (wd *webDriver) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader // none for a GET: chromedriver refuses a JSON null there
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webdriver %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("webdriver reply %s: %v", raw, err)
	}
	if out != nil {
		if err := json.Unmarshal(env.Value, out); err != nil {
			t.Fatalf("webdriver value %s: %v", env.Value, err)
		}
	}
}

func (wd *webDriver) open(t *testing.T, url string) {
	t.Helper()
	wd.call(t, http.MethodPost, "/session/"+wd.session+"/url", map[string]string{"url": url}, nil)
}

func (wd *webDriver) exec(t *testing.T, script string, out any) {
	t.Helper()
	wd.call(t, http.MethodPost, "/session/"+wd.session+"/execute/sync", map[string]any{"script": script, "args": []any{}}, out)
}

// waitFor polls a condition in the page: the browser has no way to notify
// the test, so this is bounded polling of its state, not a timed sleep.
func (wd *webDriver) waitFor(t *testing.T, what, script string) {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool {
		var ok bool
		wd.exec(t, script, &ok)
		return ok
	}, func() string {
		var state string
		wd.exec(t, `return document.body.dataset.state || ""`, &state)
		return fmt.Sprintf("waiting for %s (page state %q)", what, state)
	})
}

// window returns the handle of the current window (tab).
func (wd *webDriver) window(t *testing.T) string {
	t.Helper()
	var handle string
	wd.call(t, http.MethodGet, "/session/"+wd.session+"/window", nil, &handle)
	return handle
}

// newTab opens a tab, switches to it and returns its handle.
func (wd *webDriver) newTab(t *testing.T) string {
	t.Helper()
	var created struct {
		Handle string `json:"handle"`
	}
	wd.call(t, http.MethodPost, "/session/"+wd.session+"/window/new", map[string]string{"type": "tab"}, &created)
	wd.switchTo(t, created.Handle)
	return created.Handle
}

// switchTo makes the window (tab) of handle the one later commands act on.
func (wd *webDriver) switchTo(t *testing.T, handle string) {
	t.Helper()
	wd.call(t, http.MethodPost, "/session/"+wd.session+"/window", map[string]string{"handle": handle}, nil)
}
