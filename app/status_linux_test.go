//go:build linux

package app

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"

	"c1m/app/web"
	"c1m/server"
)

// The live feed of a real server, read without a browser: the key in the
// first message, the history, then frames whose figures are the server's
// own metrics (connections, rooms, users, loops) and whose rates add back
// up to the counters' increase.
func TestStatusLiveFeed(t *testing.T) {
	const key = "status-page-key-0123"
	ta := startApp(t, Config{}, server.Config{Loops: 2}, APIConfig{Key: key})

	// The page itself needs no key; the feed does.
	resp, err := http.Get(ta.apiURL("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	conn, br, _, err := ws.Dialer{Timeout: 5 * time.Second}.Dial(context.Background(), "ws://"+ta.app.APIAddr()+"/v1/live")
	if err != nil {
		t.Fatalf("cannot open the live feed: %v", err)
	}
	defer conn.Close()
	var rd io.Reader = conn
	if br != nil {
		rd = br // holds what arrived with the handshake, then reads conn
	}
	rw := struct {
		io.Reader
		io.Writer
	}{rd, conn}
	if err := wsutil.WriteClientText(conn, []byte(`{"type":"auth","key":"`+key+`"}`)); err != nil {
		t.Fatal(err)
	}
	read := func() []byte {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		p, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatalf("cannot read the live feed: %v", err)
		}
		return p
	}
	var h web.History
	if err := json.Unmarshal(read(), &h); err != nil || h.Type != "history" || h.IntervalMs != 1000 {
		t.Fatalf("first message: %+v %v", h, err)
	}
	frame := func() web.Frame {
		t.Helper()
		var fr web.Frame
		if b := read(); json.Unmarshal(b, &fr) != nil || fr.Type != "live" || len(fr.Nodes) != 1 {
			t.Fatalf("not a live frame: %s", b)
		}
		return fr
	}
	first := frame()
	if f := first.Total; f.Connections != 0 || f.Loops != 2 || f.RSSBytes <= 0 || first.Nodes[0].Node == "" {
		t.Fatalf("first frame: %+v", first)
	}

	// Three users in one room, four messages: 4 in, 4 published, 12
	// deliveries.
	a, b, c := ta.dial(t, "a"), ta.dial(t, "b"), ta.dial(t, "c")
	for _, x := range []*websocket.Conn{a, b, c} {
		join(t, x, "lobby", false)
	}
	for i := 0; i < 4; i++ {
		send(t, a, `{"type":"room_message","room":"lobby","data":1}`)
	}
	for _, x := range []*websocket.Conn{a, b, c} {
		for i := 0; i < 4; i++ {
			if f := readFrame(t, x); f.Type != "message" {
				t.Fatalf("got %+v, want a message", f)
			}
		}
	}
	var in, out, deliveries float64
	prev := first.TS
	deadline := time.Now().Add(15 * time.Second)
	for {
		fr := frame()
		dt := float64(fr.TS-prev) / 1000
		prev = fr.TS
		f := fr.Total
		in += f.MessagesInPerSec * dt
		out += f.MessagesOutPerSec * dt
		deliveries += f.DeliveriesPerSec * dt
		if f.Connections == 3 && f.Rooms == 1 && f.Users == 3 && near(in, 7) && near(out, 4) && near(deliveries, 12) {
			// Memory per connection is the server's own figure
			// (c1m_memory_per_connection_bytes): resident growth since
			// start over the open connections, never above the RSS.
			if f.MemoryPerConn == nil || *f.MemoryPerConn < 0 || *f.MemoryPerConn > f.RSSBytes || fr.Nodes[0].Connections != 3 {
				t.Fatalf("frame: %+v", fr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed never showed 3 connections in 1 room and 7 messages in (3 joins, 4 messages), 4 out, 12 deliveries: last %+v, integrated in %v out %v deliveries %v", f, in, out, deliveries)
		}
	}
}

// near compares an integrated rate with a count: frame times are whole
// milliseconds, the rates are not.
func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }
