//go:build linux

package app

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"c1m/broadcast"
	"c1m/server"
)

// TestPresence: join/leave events are opt-in, batched into one event per
// room per window with the member count, and a user who joins and leaves
// within one window appears in none.
//
// The window's edges are a ticker's, which the test cannot move, so every
// round starts right after an event (just after a tick) and takes a few
// milliseconds of a 200 ms window. A round whose operations still straddle
// a tick (a stalled machine) is recognised from the events themselves and
// run again with fresh rooms, at most 5 times.
func TestPresence(t *testing.T) {
	const window = 200 * time.Millisecond
	ta := startApp(t, Config{RateBurst: 1000, RateRefill: 1000, Hub: broadcast.Config{PresenceWindow: window}}, server.Config{}, APIConfig{})
	for attempt := 0; attempt < 5; attempt++ {
		straddled := presenceRound(t, ta, strconv.Itoa(attempt))
		if !straddled {
			return
		}
		t.Logf("attempt %d: the operations straddled a window's edge; again with fresh rooms", attempt)
	}
	t.Fatalf("5 attempts straddled a window's edge; cannot check batching on this machine")
}

// presenceRound runs the checks with rooms named after suffix. It returns
// true when a batch was split by a tick (not a failure: run it again).
func presenceRound(t *testing.T, ta *testApp, suffix string) (straddled bool) {
	room, sync := "p-"+suffix, "sync-"+suffix
	dial := func(user string) *websocket.Conn { return ta.dial(t, user+"-"+suffix) }
	name := func(user string) string { return user + "-" + suffix }

	// readPresence reads c's next frame, which must be a presence event
	// for r.
	readPresence := func(c *websocket.Conn, r string) frame {
		t.Helper()
		f := readFrame(t, c)
		if f.Type != "presence" || f.Room == nil || *f.Room != r || f.Count == nil {
			t.Fatalf("got %+v, want a presence event for %s", f, r)
		}
		return f
	}
	names := func(users ...string) []string {
		out := []string{}
		for _, u := range users {
			out = append(out, name(u))
		}
		return out
	}
	same := func(got, want []string) bool { return slices.Equal(append([]string{}, got...), want) }

	// The tick clock: s watches room sync; each event it gets marks a
	// tick that has just happened.
	s := dial("s")
	join(t, s, sync, true)
	readPresence(s, sync) // its own join
	ticker := 0
	tick := func() {
		t.Helper()
		ticker++
		join(t, dial("t"+strconv.Itoa(ticker)), sync, false)
		readPresence(s, sync)
	}

	// a watches room; its own join is the first event.
	a := dial("a")
	if n := join(t, a, room, true); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	if f := readPresence(a, room); !same(f.Joined, names("a")) || len(f.Left) != 0 || *f.Count != 1 {
		t.Fatalf("first event %+v, want joined [a], count 1", f)
	}

	// Right after that tick: b and c join (c without presence), d joins
	// and leaves. One event: joined [b c], no d, count 3.
	b, c, d := dial("b"), dial("c"), dial("d")
	join(t, b, room, false)
	join(t, c, room, false)
	join(t, d, room, true)
	send(t, d, `{"type":"leave","room":"`+room+`"}`)
	if f := readFrame(t, d); f.Type != "left" {
		t.Fatalf("d's leave: %+v", f)
	}
	f := readPresence(a, room)
	switch {
	case same(f.Joined, names("b", "c")) && len(f.Left) == 0 && *f.Count == 3:
	case !same(f.Joined, names("b", "c", "d")) && len(f.Left) == 0,
		same(f.Joined, names("b", "c", "d")) && len(f.Left) == 0 && *f.Count == 4:
		// Part of the joins, or d's join without its leave, fell before
		// the tick: the rest follows in the next event.
		return true
	default:
		t.Fatalf("event %+v, want joined [b c] (d netted out), left [], count 3", f)
	}

	// Nothing else comes for that window: two ticks later a message
	// published to the room is a's next frame, and b's and c's (who did
	// not ask for presence) next frame too.
	tick()
	tick()
	ta.publish(t, `{"room":"`+room+`","data":{"k":1}}`)
	for who, x := range map[string]*websocket.Conn{"a": a, "b": b, "c": c} {
		if f := readFrame(t, x); f.Type != "message" || f.Room == nil || *f.Room != room {
			t.Fatalf("%s: %+v, want the room message (no other presence event)", who, f)
		}
	}

	// Flapping alone, right after a tick: e joins and leaves, f joins,
	// leaves and joins again, b leaves. One event: joined [f], left [b].
	tick()
	e, g := dial("e"), dial("f")
	join(t, e, room, true)
	join(t, g, room, false)
	for _, m := range []string{`{"type":"leave","room":"` + room + `"}`, `{"type":"join","room":"` + room + `"}`} {
		send(t, g, m)
		readFrame(t, g)
	}
	send(t, e, `{"type":"leave","room":"`+room+`"}`)
	readFrame(t, e)
	send(t, b, `{"type":"leave","room":"`+room+`"}`)
	readFrame(t, b)
	f = readPresence(a, room)
	if !(same(f.Joined, names("f")) && same(f.Left, names("b")) && *f.Count == 3) {
		if len(f.Joined)+len(f.Left) < 2 || slices.Contains(f.Joined, name("e")) {
			return true // split by a tick
		}
		t.Fatalf("event %+v, want joined [f], left [b], count 3", f)
	}

	// A flap with no other change makes no event at all.
	tick()
	x := dial("x")
	join(t, x, room, false)
	send(t, x, `{"type":"leave","room":"`+room+`"}`)
	readFrame(t, x)
	tick()
	tick()
	ta.publish(t, `{"room":"`+room+`","data":{"k":2}}`)
	if f := readFrame(t, a); f.Type != "message" {
		if f.Type == "presence" && slices.Contains(f.Joined, name("x")) {
			return true // x's join and leave fell on both sides of a tick
		}
		t.Fatalf("after a flap: %+v, want the room message and no presence event", f)
	}

	// Leaving: a's own disconnect is an event for the others, not for a.
	s2 := dial("s2")
	join(t, s2, room, true)
	tick() // s2's join is reported to a and s2
	if f := readPresence(a, room); !same(f.Joined, names("s2")) || len(f.Left) != 0 || *f.Count != 4 {
		t.Fatalf("s2's join: %+v", f)
	}
	readPresence(s2, room)
	a.Close()
	f = readPresence(s2, room)
	if !same(f.Left, names("a")) || len(f.Joined) != 0 || *f.Count != 3 {
		t.Fatalf("after a left: %+v, want left [a], count 3", f)
	}
	if info, ok := ta.app.Hub().Room(room, 0); !ok || info.Count != 3 {
		t.Fatalf("room info %+v, %v; want 3 members", info, ok)
	}
	return false
}
