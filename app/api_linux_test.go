//go:build linux

package app

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/server"

	"github.com/gorilla/websocket"
)

func TestPublishAPI(t *testing.T) {
	const key = "s3cret-api-key"
	ta := startApp(t, Config{MaxData: 1 << 10}, server.Config{}, APIConfig{Key: key, MaxBody: 4 << 10, MaxMembers: 3})

	// The key: 401 with a JSON error without it or with a wrong one, on
	// every endpoint.
	f := func(method, path, k string) {
		t.Helper()
		code, m := ta.apiDo(t, method, path, k, `{"all":true,"data":1}`)
		if code != http.StatusUnauthorized || m["error"] != "unauthorized" || m["message"] == "" {
			t.Fatalf("%s %s with key %q: %d %v, want 401 unauthorized", method, path, k, code, m)
		}
	}
	for _, k := range []string{"", "wrong", key + "x", strings.ToUpper(key)} {
		f("POST", "/v1/publish", k)
		f("POST", "/v1/disconnect", k)
		f("GET", "/v1/stats", k)
		f("GET", "/v1/rooms/lobby", k)
	}

	alice := ta.dial(t, "alice")
	bob1 := ta.dial(t, "bob")
	bob2 := ta.dial(t, "bob")
	carol := ta.dial(t, "carol")
	join(t, alice, "lobby", false)
	join(t, bob1, "lobby", false)
	join(t, bob2, "lobby", false)
	join(t, carol, "lobby", false)
	join(t, carol, "side", false)

	// Bad requests: 400, 413 and 404 with a JSON sentence.
	g := func(body string, status int, code string) {
		t.Helper()
		got, m := ta.apiDo(t, "POST", "/v1/publish", key, body)
		if got != status || m["error"] != code || m["message"] == "" {
			t.Fatalf("publish %.60q: %d %v, want %d %s", body, got, m, status, code)
		}
	}
	g(`{"room":`, 400, "bad_json")
	g(`not json`, 400, "bad_json")
	g(`{"room":"lobby","data":1,"extra":true}`, 400, "bad_json")
	g(`{"data":{"x":1}}`, 400, "bad_request")                                      // no target
	g(`{"room":"lobby","user":"alice","data":1}`, 400, "bad_request")              // two targets
	g(`{"room":"lobby","all":true,"data":1}`, 400, "bad_request")                  // two targets
	g(`{"room":"lobby"}`, 400, "bad_request")                                      // no data
	g(`{"room":"`+strings.Repeat("r", 200)+`","data":1}`, 404, "no_target")        // no such room (name too long: no stream)
	g(`{"room":"lobby","data":"`+strings.Repeat("x", 2000)+`"}`, 413, "too_large") // data over MaxData
	g(`{"room":"lobby","data":"`+strings.Repeat("x", 5000)+`"}`, 413, "too_large") // body over MaxBody
	g(`{"room":"empty","data":1}`, 404, "no_target")
	g(`{"user":"nobody","data":1}`, 404, "no_target")

	// A good publish: 202 with the stream's seq, and delivered.
	for i, want := range []uint64{1, 2} {
		code, m := ta.apiDo(t, "POST", "/v1/publish", key, `{"room":"lobby","from":"ops","data":{"i":`+string(rune('0'+i))+`}}`)
		if code != http.StatusAccepted || m["seq"] != float64(want) {
			t.Fatalf("publish %d: %d %v, want 202 seq %d", i, code, m, want)
		}
	}
	for name, c := range map[string]*websocket.Conn{"alice": alice, "bob1": bob1, "bob2": bob2, "carol": carol} {
		for i, want := range []uint64{1, 2} {
			fr := readFrame(t, c)
			if fr.Type != "message" || fr.Room == nil || *fr.Room != "lobby" || fr.From != "ops" || fr.Seq != want || string(fr.Data) != `{"i":`+string(rune('0'+i))+`}` {
				t.Fatalf("%s: got %+v, want lobby message seq %d", name, fr, want)
			}
		}
	}
	code, m := ta.apiDo(t, "POST", "/v1/publish", key, `{"user":"bob","data":"hi"}`)
	if code != http.StatusAccepted || m["seq"] != float64(1) {
		t.Fatalf("publish to bob: %d %v", code, m)
	}
	for _, c := range []*websocket.Conn{bob1, bob2} {
		fr := readFrame(t, c)
		if fr.Type != "message" || fr.To == nil || *fr.To != "bob" || fr.From != "api" || fr.Seq != 1 || string(fr.Data) != `"hi"` {
			t.Fatalf("bob's device: got %+v, want the direct message", fr)
		}
	}

	// Stats agree with what the test built: 4 connections, 3 users, 2
	// rooms, 3 messages published to 4+4+2 deliveries.
	// The counters are added after a chunk's writes, so the last
	// deliveries may be read before they are counted: wait for them.
	c1mtest.Eventually(t, 5*time.Second, func() bool { return ta.app.Hub().Stats().Deliveries == 10 }, c1mtest.Say("10 deliveries counted"))
	code, m = ta.apiDo(t, "GET", "/v1/stats", key, "")
	want := map[string]float64{"connections": 4, "sockets": 4, "rooms": 2, "users": 3, "published": 3, "deliveries": 10, "dropped": 0, "slow_closed": 0, "backlog": 0}
	if code != 200 {
		t.Fatalf("stats: %d %v", code, m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Fatalf("stats %s = %v, want %v (all: %v)", k, m[k], v, m)
		}
	}
	if _, ok := m["queued_bytes"]; !ok {
		t.Fatalf("stats without queued_bytes: %v", m)
	}
	hs, ss := ta.app.Hub().Stats(), ta.s.Stats()
	if hs.Deliveries != 10 || hs.Published != 3 || ss.Open != 4 {
		t.Fatalf("hub/server stats %+v %+v disagree with the API", hs, ss)
	}

	// Rooms: count always, members only when asked, capped by limit and
	// by MaxMembers (3).
	r := func(path string, status int, count float64, members int, truncated bool) {
		t.Helper()
		code, m := ta.apiDo(t, "GET", path, key, "")
		if code != status {
			t.Fatalf("GET %s: %d %v, want %d", path, code, m, status)
		}
		if status != 200 {
			if m["error"] == nil || m["message"] == "" {
				t.Fatalf("GET %s: %v, want a JSON error", path, m)
			}
			return
		}
		if m["count"] != count {
			t.Fatalf("GET %s: count %v, want %v", path, m["count"], count)
		}
		list, ok := m["members"].([]any)
		if members < 0 {
			if ok || m["members"] != nil {
				t.Fatalf("GET %s: members listed without ?members=true: %v", path, m)
			}
			return
		}
		if len(list) != members || m["truncated"] != truncated {
			t.Fatalf("GET %s: %d members, truncated %v; want %d, %v (%v)", path, len(list), m["truncated"], members, truncated, m)
		}
		users := map[string]bool{"alice": true, "bob": true, "carol": true}
		for _, x := range list {
			e := x.(map[string]any)
			if !users[e["user"].(string)] || e["conn"] == "" {
				t.Fatalf("GET %s: bad member %v", path, e)
			}
		}
	}
	r("/v1/rooms/lobby", 200, 4, -1, false)
	r("/v1/rooms/lobby?members=false", 200, 4, -1, false)
	r("/v1/rooms/lobby?members=true", 200, 4, 3, true) // MaxMembers
	r("/v1/rooms/lobby?members=true&limit=2", 200, 4, 2, true)
	r("/v1/rooms/lobby?members=true&limit=10", 200, 4, 3, true)
	r("/v1/rooms/side?members=true", 200, 1, 1, false)
	r("/v1/rooms/lobby?members=true&limit=0", 400, 0, 0, false)
	r("/v1/rooms/lobby?members=true&limit=x", 400, 0, 0, false)
	r("/v1/rooms/nowhere", 404, 0, 0, false)

	// Disconnect: every device of bob gets 1008, the others stay.
	code, m = ta.apiDo(t, "POST", "/v1/disconnect", key, `{"user":""}`)
	if code != 400 || m["error"] != "bad_request" {
		t.Fatalf("disconnect without user: %d %v", code, m)
	}
	code, m = ta.apiDo(t, "POST", "/v1/disconnect", key, `{"user":"bob","reason":"banned"}`)
	if code != 200 || m["closed"] != float64(2) {
		t.Fatalf("disconnect bob: %d %v, want 200 closed 2", code, m)
	}
	expectCloseCode(t, bob1, 1008)
	expectCloseCode(t, bob2, 1008)
	c1mtest.Eventually(t, 5*time.Second, func() bool { return len(ta.app.Hub().Devices("bob")) == 0 }, c1mtest.Say("bob's devices to leave the hub"))
	ta.publish(t, `{"room":"lobby","data":3}`)
	for _, c := range []*websocket.Conn{alice, carol} {
		if fr := readFrame(t, c); fr.Type != "message" || fr.Seq != 3 {
			t.Fatalf("after disconnect: %+v, want lobby seq 3", fr)
		}
	}
	r("/v1/rooms/lobby", 200, 2, -1, false)

	// Unknown endpoints are JSON 404s behind the key too.
	code, m = ta.apiDo(t, "GET", "/v1/nothing", key, "")
	if code != 404 || m["error"] != "not_found" {
		t.Fatalf("unknown endpoint: %d %v", code, m)
	}

	// No key on a non-loopback address: New refuses before listening.
	if _, err := New(Config{API: APIConfig{Addr: "0.0.0.0:0"}}); !errors.Is(err, ErrAPIKeyRequired) {
		t.Fatalf("New with the API on 0.0.0.0 without a key: %v, want ErrAPIKeyRequired", err)
	}
	// A key, or loopback, is enough.
	for _, c := range []APIConfig{{Addr: "0.0.0.0:0", Key: "k"}, {Addr: "127.0.0.1:0"}, {Addr: "localhost:0"}, {Addr: "[::1]:0"}} {
		c, err := c.withDefaults()
		if err != nil {
			t.Fatalf("API config %+v: %v", c, err)
		}
		api, err := startAPI(c, ta.app)
		if err != nil {
			if c.Addr == "[::1]:0" && strings.Contains(err.Error(), "cannot assign") {
				continue // no IPv6 loopback here
			}
			t.Fatalf("startAPI %s: %v", c.Addr, err)
		}
		_ = api.srv.Close()
	}
}
