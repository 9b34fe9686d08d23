//go:build linux

package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/server"

	"github.com/gorilla/websocket"
)

// payload is the data of every test message: its publisher and the
// publisher's own counter, 0, 1, 2, ...
type payload struct {
	P string `json:"p"`
	N int    `json:"n"`
}

// streamCheck follows one stream on one connection: seq goes up by one
// from 1, and each publisher's counter by one from 0.
type streamCheck struct {
	seq  uint64
	last map[string]int // publisher → next expected counter
	got  []payload      // kept for direct messages, to compare devices
	n    int
}

// orderClient is one connection of TestExactlyOnceInOrder and what it
// has seen.
type orderClient struct {
	c       *websocket.Conn
	user    string
	room    string
	want    int // messages expected in total
	streams map[string]*streamCheck
	errs    []string
	done    chan struct{}
}

func (oc *orderClient) fail(format string, args ...any) {
	if len(oc.errs) < 5 {
		oc.errs = append(oc.errs, fmt.Sprintf(format, args...))
	}
}

// read consumes messages until it has want of them or the connection
// fails; every message is checked against the stream it belongs to.
func (oc *orderClient) read() {
	defer close(oc.done)
	total := 0
	for total < oc.want {
		_ = oc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, b, err := oc.c.ReadMessage()
		if err != nil {
			oc.fail("after %d of %d messages: %v", total, oc.want, err)
			return
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			oc.fail("%q is not JSON: %v", b, err)
			return
		}
		if f.Type != "message" {
			oc.fail("unexpected %s", b)
			return
		}
		var key string
		switch {
		case f.All && f.Room != nil && *f.Room == "*":
			key = "all"
		case f.Room != nil && *f.Room == oc.room:
			key = "room"
		case f.To != nil && *f.To == oc.user:
			key = "user"
		default:
			oc.fail("a message not meant for %s in %s: %s", oc.user, oc.room, b)
			return
		}
		var p payload
		if err := json.Unmarshal(f.Data, &p); err != nil || p.P == "" {
			oc.fail("bad data in %s", b)
			return
		}
		s := oc.streams[key]
		if s == nil {
			s = &streamCheck{last: map[string]int{}}
			oc.streams[key] = s
		}
		if f.Seq != s.seq+1 {
			oc.fail("%s stream: seq %d after %d (%s)", key, f.Seq, s.seq, b)
			return
		}
		s.seq = f.Seq
		// A direct publisher spreads its counter over all users, so on one
		// user's stream it only goes up (the exact list is checked at the
		// end); room and everyone publishers go up by one.
		if p.N != s.last[p.P] && (key != "user" || p.N < s.last[p.P]) {
			oc.fail("%s stream: publisher %s's message %d after %d", key, p.P, p.N, s.last[p.P]-1)
			return
		}
		s.last[p.P] = p.N + 1
		if key == "user" {
			s.got = append(s.got, p)
		}
		s.n++
		total++
	}
}

// TestExactlyOnceInOrder: 200 connections of 80 users (40 of them with 3
// devices, 40 with 2) in 10 rooms of 20. 1,000 messages to every room
// (from two member clients each, via room_message), 1,000 direct messages
// spread over the users and 1,000 to everyone (both via the publish API,
// from several publishers at once). Every connection gets exactly its
// messages: per stream, seq 1, 2, 3, ... with nothing missing or twice;
// per publisher, its counter in order; every device of a user the same
// direct messages.
func TestExactlyOnceInOrder(t *testing.T) {
	const (
		conns      = 200
		users      = 80 // user u of connection c is c % 80: devices c, c+80, c+160
		rooms      = 10 // room of connection c is c / 20
		perRoom    = 1000
		roomPubs   = 2 // member clients publishing to each room
		directs    = 1000
		directPubs = 4
		alls       = 1000
		allPubs    = 2
	)
	ta := startApp(t, Config{RateBurst: 1 << 20, RateRefill: 1 << 20}, server.Config{}, APIConfig{})
	userOf := func(c int) string { return fmt.Sprintf("u%02d", c%users) }
	roomOf := func(c int) string { return "room-" + strconv.Itoa(c/(conns/rooms)) }

	// Which user each direct message goes to, decided up front so that
	// every connection knows how many to expect.
	directTo := func(pub, k int) string { return userOf((pub*7 + k*3) % users) }
	perUser := map[string]int{}
	wantDirect := map[string]map[string][]int{} // user → publisher → counters
	for p := 0; p < directPubs; p++ {
		for k := 0; k < directs/directPubs; k++ {
			u := directTo(p, k)
			perUser[u]++
			if wantDirect[u] == nil {
				wantDirect[u] = map[string][]int{}
			}
			pub := "d" + strconv.Itoa(p)
			wantDirect[u][pub] = append(wantDirect[u][pub], k)
		}
	}

	clients := make([]*orderClient, conns)
	for i := range clients {
		oc := &orderClient{c: ta.dial(t, userOf(i)), user: userOf(i), room: roomOf(i), streams: map[string]*streamCheck{}, done: make(chan struct{})}
		oc.want = alls + perRoom + perUser[oc.user]
		join(t, oc.c, oc.room, false)
		clients[i] = oc
	}
	hub := ta.app.Hub()
	if st := hub.Stats(); st.Users != users || st.Rooms != rooms {
		t.Fatalf("hub has %d users, %d rooms; want %d, %d", st.Users, st.Rooms, users, rooms)
	}
	// u00 has exactly 3 devices (connections 0, 80 and 160).
	if d := hub.Devices("u00"); len(d) != 3 {
		t.Fatalf("u00 has %d devices, want 3", len(d))
	}
	if d := hub.Devices("u79"); len(d) != 2 {
		t.Fatalf("u79 has %d devices, want 2", len(d))
	}
	for _, oc := range clients {
		go oc.read()
	}

	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	// Room messages from member clients: connections 20r and 20r+1.
	for r := 0; r < rooms; r++ {
		for j := 0; j < roomPubs; j++ {
			oc := clients[r*(conns/rooms)+j]
			name := "c" + strconv.Itoa(r*(conns/rooms)+j)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < perRoom/roomPubs; k++ {
					msg := `{"type":"room_message","room":"` + oc.room + `","data":{"p":"` + name + `","n":` + strconv.Itoa(k) + `}}`
					if err := oc.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
						errc <- fmt.Errorf("%s: write: %w", name, err)
						return
					}
				}
			}()
		}
	}
	// Direct and everyone messages through the API, each publisher
	// sequential (that is its order) and all of them in parallel.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	post := func(body string) error {
		resp, err := hc.Post(ta.apiURL("/v1/publish"), "application/json", bytes.NewBufferString(body))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("publish %s: %d %s", body, resp.StatusCode, b)
		}
		return nil
	}
	for p := 0; p < directPubs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < directs/directPubs; k++ {
				if err := post(`{"user":"` + directTo(p, k) + `","from":"d` + strconv.Itoa(p) + `","data":{"p":"d` + strconv.Itoa(p) + `","n":` + strconv.Itoa(k) + `}}`); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for p := 0; p < allPubs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < alls/allPubs; k++ {
				if err := post(`{"all":true,"from":"a` + strconv.Itoa(p) + `","data":{"p":"a` + strconv.Itoa(p) + `","n":` + strconv.Itoa(k) + `}}`); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	published := time.Since(start)
	for _, oc := range clients {
		<-oc.done // each reader ends by itself: its count, an error or a 30 s read deadline
	}
	t.Logf("published in %v, all delivered in %v", published, time.Since(start))

	failed := 0
	for i, oc := range clients {
		for _, e := range oc.errs {
			if failed < 20 {
				t.Errorf("connection %d (%s, %s): %s", i, oc.user, oc.room, e)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d connections failed", failed)
	}
	for i, oc := range clients {
		want := map[string]int{"all": alls, "room": perRoom, "user": perUser[oc.user]}
		for k, n := range want {
			got := 0
			if s := oc.streams[k]; s != nil {
				got = s.n
			}
			if got != n {
				t.Fatalf("connection %d: %d %s messages, want %d", i, got, k, n)
			}
		}
	}
	// Each device got exactly the direct messages sent to its user, each
	// publisher's in its order.
	for i, oc := range clients {
		got := map[string][]int{}
		for _, p := range oc.streams["user"].got {
			got[p.P] = append(got[p.P], p.N)
		}
		want := wantDirect[oc.user]
		if len(got) != len(want) {
			t.Fatalf("connection %d: direct messages from %d publishers, want %d", i, len(got), len(want))
		}
		for pub, ks := range want {
			if !slices.Equal(got[pub], ks) {
				t.Fatalf("connection %d (%s): from %s got %v, want %v", i, oc.user, pub, got[pub], ks)
			}
		}
	}
	// Every device of a user got the same direct messages in the same
	// order: the 3 of u00 included.
	for u := 0; u < users; u++ {
		first := clients[u].streams["user"]
		for c := u + users; c < conns; c += users {
			if !slices.Equal(first.got, clients[c].streams["user"].got) {
				t.Fatalf("user %s: devices %d and %d got different direct messages", userOf(u), u, c)
			}
		}
	}
	if n := len(clients[0].streams["user"].got); n != perUser["u00"] || n == 0 {
		t.Fatalf("u00's device got %d direct messages, want %d", n, perUser["u00"])
	}

	// The hub agrees: every delivery made once (counted after the
	// writes, so wait for the last chunk's count), none dropped or slow.
	wantDeliveries := int64(alls*conns + rooms*perRoom*(conns/rooms))
	for u, n := range perUser {
		wantDeliveries += int64(n * len(hub.Devices(u)))
	}
	c1mtest.Eventually(t, 10*time.Second, func() bool { return hub.Stats().Deliveries >= wantDeliveries }, c1mtest.Say("the hub's delivery count"))
	st := hub.Stats()
	if st.Deliveries != wantDeliveries || st.Published != int64(alls+directs+rooms*perRoom) || st.Dropped != 0 || st.SlowClosed != 0 {
		t.Fatalf("hub stats %+v; want %d deliveries, %d published, none dropped or slow", st, wantDeliveries, alls+directs+rooms*perRoom)
	}
}
