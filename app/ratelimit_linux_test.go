//go:build linux

package app

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"c1m/broadcast"
	"c1m/internal/c1mtest"
	"c1m/server"
	"c1m/wsproto"
)

// TestRateLimitAndAbuse: the per-connection token bucket (burst 10, 1/s),
// the abuse close, protocol errors that leave the connection open, and the
// rooms-per-connection and members-per-room caps.
func TestRateLimitAndAbuse(t *testing.T) {
	ta := startApp(t, Config{
		RateBurst: 10, RateRefill: 1, AbuseLimit: 20, MaxData: 1 << 10,
		Hub: broadcast.Config{MaxRoomsPerConn: 3, MaxRoomMembers: 2},
	}, server.Config{}, APIConfig{})

	joins := func(n int) []string {
		m := make([]string, n)
		for i := range m {
			m[i] = `{"type":"join","room":"r` + strconv.Itoa(i%3) + `"}`
		}
		return m
	}

	// 11 messages in one write (one wake-up, well under the 1 s refill):
	// 10 pass, the 11th is refused.
	c := dialRawApp(t, ta.s, "rl", 0)
	c.sendAll(joins(11)...)
	for i := 0; i < 10; i++ {
		if f := c.nextFrame(); f.Type != "joined" {
			t.Fatalf("message %d: %+v, want joined", i+1, f)
		}
	}
	if f := c.nextFrame(); f.Type != "error" || f.Code != "rate_limited" {
		t.Fatalf("message 11: %+v, want error rate_limited", f)
	}
	if got := metric(t, ta.s, "c1m_rate_limited_total"); got != 1 {
		t.Fatalf("c1m_rate_limited_total = %v, want 1", got)
	}
	// A refusal is not abuse yet: the connection is open.
	if got := ta.s.Stats().Open; got != 1 {
		t.Fatalf("open connections %d, want 1", got)
	}

	// 30 in one write: 10 pass, refusals 1..19 get rate_limited, the
	// 20th in a row (AbuseLimit) closes with 1008.
	a := dialRawApp(t, ta.s, "abuser", 0)
	a.sendAll(joins(30)...)
	var joined, limited int
	for i := 0; i < 40; i++ {
		m, ok := a.next()
		if !ok {
			t.Fatalf("EOF after %d joined, %d rate_limited; want close 1008", joined, limited)
		}
		if m.Op == wsproto.OpClose {
			if m.Code != wsproto.ClosePolicyViolation {
				t.Fatalf("close %d, want 1008", m.Code)
			}
			break
		}
		switch s := string(m.Data); {
		case strings.HasPrefix(s, `{"type":"joined"`):
			joined++
		case strings.HasPrefix(s, `{"type":"error","code":"rate_limited"`):
			limited++
		default:
			t.Fatalf("unexpected %s", s)
		}
	}
	if joined != 10 || limited != 19 {
		t.Fatalf("%d joined, %d rate_limited before the close; want 10, 19", joined, limited)
	}
	if got := metric(t, ta.s, "c1m_rate_limited_total"); got != 21 {
		t.Fatalf("c1m_rate_limited_total = %v, want 21 (1 + 20)", got)
	}

	// Protocol errors: an error frame each, and the connection stays: a
	// valid join right after is answered.
	big := `"` + strings.Repeat("x", 2000) + `"`
	f := func(name string, op int, msg, code string) {
		t.Helper()
		// A subtest each, so that one bad reply does not hide the others.
		t.Run(name, func(t *testing.T) {
			c := ta.dial(t, "")
			defer c.Close()
			if err := c.WriteMessage(op, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			expectError(t, c, code)
			join(t, c, "after", false)
			send(t, c, `{"type":"leave","room":"after"}`)
			if fr := readFrame(t, c); fr.Type != "left" || fr.Room == nil || *fr.Room != "after" {
				t.Fatalf("leave: %+v", fr)
			}
		})
	}
	f("truncated", websocket.TextMessage, `{"type":`, "bad_json")
	f("not-json", websocket.TextMessage, `not json at all`, "bad_json")
	f("array", websocket.TextMessage, `["join"]`, "bad_json")
	f("type-number", websocket.TextMessage, `{"type":5}`, "bad_json")
	f("unknown-type", websocket.TextMessage, `{"type":"dance"}`, "unknown_type")
	f("no-type", websocket.TextMessage, `{"room":"x"}`, "bad_request")
	f("binary", websocket.BinaryMessage, `{"type":"join","room":"x"}`, "bad_request")
	f("room-too-large", websocket.TextMessage, `{"type":"room_message","room":"x","data":`+big+`}`, "too_large")
	f("direct-too-large", websocket.TextMessage, `{"type":"direct_message","to":"rl","data":`+big+`}`, "too_large")
	f("room-no-data", websocket.TextMessage, `{"type":"room_message","room":"x"}`, "bad_request")
	f("direct-no-to", websocket.TextMessage, `{"type":"direct_message","data":1}`, "bad_request")
	f("join-no-room", websocket.TextMessage, `{"type":"join"}`, "bad_request")
	f("join-empty-room", websocket.TextMessage, `{"type":"join","room":""}`, "bad_request")
	f("join-long-room", websocket.TextMessage, `{"type":"join","room":"`+strings.Repeat("r", 200)+`"}`, "bad_request")
	f("leave-not-member", websocket.TextMessage, `{"type":"leave","room":"never"}`, "not_member")
	c1mtest.Eventually(t, 5*time.Second, func() bool { return ta.s.Stats().Open == 1 }, c1mtest.Say("the protocol-error clients to go"))

	// Rooms per connection (3): the 4th is refused, rejoining one is not.
	r := ta.dial(t, "")
	for _, room := range []string{"a", "b", "c"} {
		join(t, r, room, false)
	}
	send(t, r, `{"type":"join","room":"d"}`)
	expectError(t, r, "too_many_rooms")
	join(t, r, "a", false)

	// Members per room (2): the 3rd is refused and counted.
	join(t, ta.dial(t, ""), "full", false)
	join(t, ta.dial(t, ""), "full", false)
	third := ta.dial(t, "")
	send(t, third, `{"type":"join","room":"full"}`)
	expectError(t, third, "room_full")
	if got := ta.app.Hub().Stats().RoomFull; got != 1 {
		t.Fatalf("hub RoomFull = %d, want 1", got)
	}
	if got := metric(t, ta.s, "c1m_room_full_total"); got != 1 {
		t.Fatalf("c1m_room_full_total = %v, want 1", got)
	}
	join(t, third, "other", false) // still open

	// The bucket refills: after 1.1 s a refused connection has a token
	// again (the first client spent its burst above).
	time.Sleep(1100 * time.Millisecond)
	c.sendAll(`{"type":"join","room":"r0"}`)
	if fr := c.nextFrame(); fr.Type != "joined" {
		t.Fatalf("after refill: %+v, want joined", fr)
	}
}
