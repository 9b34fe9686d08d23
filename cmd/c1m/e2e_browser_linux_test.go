//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"c1m/internal/c1mtest"
)

// Fixed ports: the server is stopped and started again on the same ports,
// which the browser tabs must find again on their own. They are below the
// kernel's ephemeral range (32768-60999 by default), where another test's
// client socket could hold one, as the benchmark tests' base ports are.
const (
	browserWSAddr      = "127.0.0.1:27100"
	browserMetricsAddr = "127.0.0.1:27101"
	browserAPIAddr     = "127.0.0.1:27102"
)

// TestBrowserStatusPage drives headless Chromium through the status page:
// the live connection count follows test clients, the demo chat (c1m.js)
// carries a message from one tab to another, after the server is stopped
// and started again both tabs reconnect and rejoin by themselves, and the
// publish form reaches the room.
// A screenshot of the page is saved to $C1M_TEST_ARTIFACTS, or to the
// test's artifact directory (go test -artifacts), never to the repository.
func TestBrowserStatusPage(t *testing.T) {
	ctx1 := c1mtest.Browser(t)
	args := []string{"serve", "--auth=none", "--addr", browserWSAddr, "--metrics-addr", browserMetricsAddr,
		"--api-addr", browserAPIAddr, "--drain-timeout", "5s", "--drain-delay", "0", "--log-level", "warn"}
	start := func() *c1mtest.Proc {
		t.Helper()
		p, err := c1mtest.Start(t, browserWSAddr, browserMetricsAddr, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitAPI(t)
		return p
	}
	srv := start()

	a := &tab{t: t, ctx: ctx1, name: "tab 1"}
	ctx2, cancel2 := chromedp.NewContext(ctx1) // a second tab
	defer cancel2()
	b := &tab{t: t, ctx: ctx2, name: "tab 2"}

	// The page's live feed shows the connection count rising as clients
	// connect, and falling as they leave.
	page := "http://" + browserAPIAddr + "/"
	a.run(chromedp.Navigate(page))
	a.waitText("live-state", "live")
	a.waitText("fig-connections", "0")
	var raws []*wsConn
	for i := range 3 {
		c, err := dialWS(browserWSAddr, "/ws?user=raw"+strconv.Itoa(i), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, c)
	}
	a.waitText("fig-connections", "3")
	for _, c := range raws {
		_ = c.Close()
	}
	a.waitText("fig-connections", "0")

	// Two tabs join one room in the demo chat; the first sees the
	// second arrive (presence) and its message reaches the second.
	a.joinChat("alice", "lobby")
	b.run(chromedp.Navigate(page))
	b.waitText("live-state", "live")
	b.joinChat("bob", "lobby")
	a.waitFor("alice sees bob join the room", `logHas("presence", null, "bob joined")`)
	a.waitText("fig-connections", "2")
	a.say("hello from alice")
	b.waitFor("bob gets alice's message", `logHas("msg", "alice", "hello from alice")`)
	a.waitFor("alice gets her own message", `logHas("msg", "alice", "hello from alice")`)

	// Stop the server (SIGTERM: drain, exit 0): both tabs lose their
	// connection.
	srv.Signal(syscall.SIGTERM)
	if code := srv.Wait(30 * time.Second); code != 0 {
		t.Fatalf("c1m serve exited with %d after SIGTERM, want 0", code)
	}
	for _, x := range []*tab{a, b} {
		x.waitFor("the chat to notice the server is gone", `text("chat-state") !== "open" && text("chat-room-state") === "rejoining"`)
		x.waitFor("the live feed to notice the server is gone", `text("live-state") !== "live"`)
	}

	// Start it again on the same ports: both tabs reconnect and rejoin
	// by themselves.
	srv = start()
	for _, x := range []*tab{a, b} {
		x.waitFor("the chat to reconnect and rejoin", `text("chat-state") === "open" && text("chat-room-state") === "joined" && Number(document.getElementById("chat-state").dataset.reconnects) >= 1`)
		x.waitFor("the log to say so", `logHas("sys", null, t => t.startsWith("rejoined lobby"))`)
		x.waitText("live-state", "live")
	}
	if code, body := apiGet(t, "/v1/rooms/lobby"); code != http.StatusOK || body["count"] != float64(2) {
		t.Fatalf("after the restart the server has lobby: %d %v, want both tabs in it", code, body)
	}
	if n := srv.Metric("c1m_connections"); n != 2 {
		t.Fatalf("after the restart the server has %v connections, want the two tabs'", n)
	}
	b.say("after the restart")
	a.waitFor("alice gets bob's message sent after the restart", `logHas("msg", "bob", "after the restart")`)
	a.waitText("fig-connections", "2")

	// The publish form (the API needs no key on loopback) reaches the room.
	a.run(
		chromedp.SetValue(chromedp.CSS("#pub-text"), "maintenance at 02:00"),
		chromedp.Click(chromedp.CSS("#pub-send")),
	)
	a.waitFor("the publish form's answer", `text("pub-result").startsWith("published, seq ")`)
	b.waitFor("bob gets the operator's message", `logHas("msg", "operator", "maintenance at 02:00")`)
	a.waitFor("the charts to draw", `document.querySelector("#chart-connections polyline").getAttribute("points").split(" ").length >= 2`)

	png, err := chromedp.Run(a.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("cannot take a screenshot: %v", err)
	}
	dir := os.Getenv("C1M_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "status-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page: %s (%d bytes)", shot, len(png))
}

// waitAPI waits until the API listener (which starts after /livez
// answers) serves /v1/info.
func waitAPI(t *testing.T) {
	t.Helper()
	c1mtest.Eventually(t, 15*time.Second, func() bool {
		code, _ := apiGet(nil, "/v1/info")
		return code == http.StatusOK
	}, func() string { return "GET http://" + browserAPIAddr + "/v1/info never answered 200" })
}

// apiGet fetches path from the API listener (no key: it is on loopback)
// and decodes its JSON object; code 0 when it cannot connect. t may be
// nil for a probe that must not fail the test.
func apiGet(t *testing.T, path string) (int, map[string]any) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + browserAPIAddr + path)
	if err != nil {
		if t != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil && t != nil {
		t.Fatalf("GET %s: %d, body is not a JSON object: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// tab is one browser tab showing the status page. Its methods fail the
// test; call them from the test's goroutine.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
}

func (x *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	x.t.Helper()
	if err := chromedp.Do(x.ctx, actions...); err != nil {
		x.t.Fatalf("%s: %v", x.name, err)
	}
}

// pageHelpers are defined in the page for the conditions below: text(id)
// and logHas(class, from, text or predicate) over the chat log.
const pageHelpers = `
window.text = (id) => (document.getElementById(id) || {}).textContent || "";
window.logHas = (cls, from, want) => [...document.querySelectorAll("#chat-log li." + cls)].some((li) => {
  const f = li.querySelector(".from");
  const body = li.lastChild ? li.lastChild.textContent : "";
  if (from !== null && (!f || f.textContent !== from)) return false;
  return typeof want === "function" ? want(body) : body === want;
});`

// waitFor polls the JavaScript condition cond in the page until it is
// true, and fails the test after a generous deadline with what the page
// showed last.
func (x *tab) waitFor(what, cond string) {
	x.t.Helper()
	if !x.within(45*time.Second, cond) {
		x.t.Fatalf("%s: still waiting for %s (%s) after 45s; the page shows %s", x.name, what, cond, x.dump())
	}
}

// waitText waits until element id's text is want.
func (x *tab) waitText(id, want string) {
	x.t.Helper()
	x.waitFor(fmt.Sprintf("#%s to read %q", id, want), fmt.Sprintf("text(%q) === %q", id, want))
}

// dump describes the page's state for a failure message.
func (x *tab) dump() string {
	s, _ := chromedp.Run(x.ctx, chromedp.Evaluate[string](`JSON.stringify({
  live: document.getElementById("live-state").textContent,
  connections: document.getElementById("fig-connections").textContent,
  chat: document.getElementById("chat-state").textContent,
  reconnects: document.getElementById("chat-state").dataset.reconnects,
  room: document.getElementById("chat-room-state").textContent,
  log: [...document.querySelectorAll("#chat-log li")].slice(-8).map((li) => li.className + ": " + li.textContent),
})`))
	return s
}

// joinChat joins room as user in the demo chat and waits until joined.
//
// A click can miss: it lands where the button was measured just before,
// and the live feed may move the layout in between (a figure or a chart
// filled in). So a press that left the chat untouched (still "idle",
// "not joined", nothing logged: the form was never submitted) is
// repeated, up to five times; a press that did start the chat is not.
func (x *tab) joinChat(user, room string) {
	x.t.Helper()
	x.run(
		chromedp.SetValue(chromedp.CSS("#chat-user"), user),
		chromedp.SetValue(chromedp.CSS("#chat-room"), room),
	)
	const started = `text("chat-state") !== "idle" || text("chat-room-state") !== "not joined" || document.getElementById("chat-log").children.length > 0`
	for press := 1; ; press++ {
		x.run(chromedp.Click(chromedp.CSS("#chat-join")))
		if x.within(5*time.Second, started) {
			break
		}
		if press == 5 {
			x.t.Fatalf("%s: Join pressed five times and the chat never started; the page shows %s", x.name, x.dump())
		}
		x.t.Logf("%s: Join press %d did not reach the form; pressing again", x.name, press)
	}
	x.waitFor(user+" to join "+room, `text("chat-state") === "open" && text("chat-room-state") === "joined"`)
}

// within reports whether cond becomes true on the page within d.
func (x *tab) within(d time.Duration, cond string) bool {
	x.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(x.ctx, chromedp.Evaluate[bool](pageHelpers+"\n;!!("+cond+")"))
		if err != nil {
			x.t.Fatalf("%s: cannot evaluate %s: %v", x.name, cond, err)
		}
		if ok || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// say sends text in the demo chat.
func (x *tab) say(text string) {
	x.t.Helper()
	x.run(
		chromedp.SetValue(chromedp.CSS("#chat-text"), text),
		chromedp.Click(chromedp.CSS("#chat-send")),
	)
}
