//go:build linux

package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"c1m/internal/c1mtest"
)

// TestPageKeyAndToken opens the page of a server with an API key and JWT
// auth: the page is read-only and shows no figures until the key is
// given (a wrong one is refused), the key never appears in a URL, and the
// demo asks for a token instead of a user name.
func TestPageKeyAndToken(t *testing.T) {
	const key = "page-test-key-0123456789"
	_, srv := startStatus(t, &fakeNode{conns: 7, busy: []float64{0}}, Config{Key: key, Auth: "jwt", WSPort: 1, Interval: 100 * time.Millisecond})
	ctx := c1mtest.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what, cond string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("live-state").textContent + " | " + document.getElementById("fig-connections").textContent`))
				t.Fatalf("still waiting for %s (%s) after 30s; the page shows %s", what, cond, state)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	text := func(id string) string { return fmt.Sprintf(`document.getElementById(%q).textContent`, id) }
	enterKey := func(k string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#key-input"), k),
			chromedp.Click(chromedp.CSS("#key-save")),
		); err != nil {
			t.Fatal(err)
		}
	}

	waitFor("the page to ask for the key", text("live-state")+` === "needs the API key" && !document.getElementById("key-box").hidden && document.getElementById("pub-send").disabled`)
	enterKey("wrong-key")
	waitFor("the wrong key to be refused", text("live-state")+` === "key refused" && `+text("key-note")+` === "That key was refused." && `+text("fig-connections")+` === "–"`)
	enterKey(key)
	waitFor("live figures after the right key", text("live-state")+` === "live" && `+text("fig-connections")+` === "7" && document.getElementById("key-box").hidden && !document.getElementById("pub-send").disabled`)
	waitFor("no URL to carry the key", `!location.href.includes("`+key+`") && !performance.getEntries().some((e) => e.name.includes("`+key+`"))`)

	// JWT mode: a token field instead of a user name, and no connection
	// without a token.
	waitFor("the token field", `!document.getElementById("chat-token-label").hidden && document.getElementById("chat-user-label").hidden && `+text("chat-auth-note")+`.includes("paste a JWT")`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#chat-join"))); err != nil {
		t.Fatal(err)
	}
	waitFor("the demo to say a token is needed", `[...document.querySelectorAll("#chat-log li.err")].some((li) => li.textContent.includes("a token is needed")) && `+text("chat-state")+` === "idle"`)
}
