//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// node is one c1m process of a test cluster.
type node struct {
	*c1mtest.Proc
	api   string // host:port of its publish API
	route string // host:port of its NATS routes
}

// startCluster starts n c1m nodes joined by embedded NATS (routes on free
// loopback ports), with extra flags, and waits until each reports the
// backplane ready in /readyz.
func startCluster(t *testing.T, n int, extra ...string) []*node {
	t.Helper()
	nodes := make([]*node, n)
	var routes []string
	// Four ports per node, all distinct: picked one at a time, a route
	// port and another node's API port once came out the same.
	ports := c1mtest.FreeAddrs(t, 4*n)
	for i := range nodes {
		nodes[i] = &node{api: ports[4*i], route: ports[4*i+1]}
		routes = append(routes, nodes[i].route)
	}
	for i, nd := range nodes {
		addr, maddr := ports[4*i+2], ports[4*i+3]
		args := append([]string{"serve", "--auth=none", "--addr", addr, "--metrics-addr", maddr, "--api-addr", nd.api,
			"--cluster", "embedded:" + nd.route, "--cluster-routes", strings.Join(routes, ","),
			"--cluster-node", "node-" + strconv.Itoa(i), "--drain-delay=0", "--rate-burst=100000", "--rate-refill=100000",
			"--log-level", "warn",
			// The JetStream directory under the test's own: a node the
			// test kills leaves nothing behind in /tmp.
			"--data-dir", t.TempDir(), "--history-storage", "memory"}, extra...)
		p, err := c1mtest.Start(t, addr, maddr, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		nd.Proc = p
	}
	for i, nd := range nodes {
		var body string
		c1mtest.Eventually(t, 60*time.Second, func() bool {
			_, b, err := nd.Get("/readyz")
			body = b
			return err == nil && strings.TrimSpace(b) == "ok"
		}, func() string { return fmt.Sprintf("node %d: /readyz %q, want ok (backplane ready)", i, body) })
	}
	return nodes
}

// publishAPI posts body to a node's publish API and returns the status and
// the seq of a 202.
func publishAPI(t *testing.T, api, body string) (int, uint64) {
	t.Helper()
	resp, err := http.Post("http://"+api+"/v1/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Seq uint64 `json:"seq"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m.Seq
}

// getJSON fetches an API path as a JSON object.
func getJSON(t *testing.T, api, path string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return m
}

// member is a client of a test cluster: it records every message frame.
type member struct {
	t    *testing.T
	c    *c1mtest.RawClient
	mu   sync.Mutex
	msgs []clusterMsg
	done chan struct{}
}

type clusterMsg struct {
	Type   string          `json:"type"`
	Room   *string         `json:"room"`
	To     *string         `json:"to"`
	All    bool            `json:"all"`
	From   string          `json:"from"`
	Seq    uint64          `json:"seq"`
	Prev   uint64          `json:"prev"`
	Local  bool            `json:"local"`
	Data   json.RawMessage `json:"data"`
	Count  *int            `json:"count"`
	Joined []string        `json:"joined"`
	Left   []string        `json:"left"`
	ID     json.RawMessage `json:"id"`
	Code   string          `json:"code"`
	// gap
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
}

// join connects user to nd, joins room (with since when since >= 0), and
// then reads in the background.
func join(t *testing.T, nd *node, user, room string, since int64) *member {
	t.Helper()
	j := `{"type":"join","room":"` + room + `","id":"j"`
	if since >= 0 {
		j += `,"since":` + strconv.FormatInt(since, 10)
	}
	return joinWith(t, nd, user, room, j+"}")
}

// joinWith connects user to nd and sends the join message j (for room).
func joinWith(t *testing.T, nd *node, user, room, j string) *member {
	t.Helper()
	c, err := c1mtest.DialWS(nd.Addr, "/ws?user="+user, c1mtest.DialOptions{ReadTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m := &member{t: t, c: c, done: make(chan struct{})}
	if err := c.SendText(j); err != nil {
		t.Fatal(err)
	}
	go m.read()
	m.waitFor(func(ms []clusterMsg) bool {
		for _, x := range ms {
			if x.Type == "joined" {
				return true
			}
		}
		return false
	}, user+" joined "+room)
	return m
}

func (m *member) read() {
	defer close(m.done)
	for {
		b, err := m.c.NextMessage()
		if err != nil {
			return
		}
		var x clusterMsg
		if json.Unmarshal(b, &x) != nil {
			continue
		}
		m.mu.Lock()
		m.msgs = append(m.msgs, x)
		m.mu.Unlock()
	}
}

func (m *member) snapshot() []clusterMsg {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

func (m *member) waitFor(cond func([]clusterMsg) bool, what string) {
	m.t.Helper()
	c1mtest.Eventually(m.t, 30*time.Second, func() bool { return cond(m.snapshot()) }, c1mtest.Say(what))
}

// roomMsgs returns the room messages (type message, room r) in arrival
// order.
func (m *member) roomMsgs(r string) []clusterMsg {
	var out []clusterMsg
	for _, x := range m.snapshot() {
		if x.Type == "message" && x.Room != nil && *x.Room == r {
			out = append(out, x)
		}
	}
	return out
}

// settle publishes probes to room through nd's API until every member has
// one: the nodes' subscriptions to the room are then in place (interest
// is taken asynchronously).
func settle(t *testing.T, nd *node, room string, ms ...*member) {
	t.Helper()
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		publishAPI(t, nd.api, `{"room":"`+room+`","data":"probe"}`)
		for _, m := range ms {
			if len(m.roomMsgs(room)) == 0 {
				return false
			}
		}
		return true
	}, c1mtest.Say("every member of "+room+" to get a probe"))
}

// TestClusterOneOrder: three nodes on one embedded NATS cluster. Clients on
// A, B and C publish to one room at once: every member gets every message,
// in the same order with the same seq, and each message's prev is the seq
// before it. Direct messages and "everyone" reach users on other nodes.
// A room whose members are all on A costs B and C no delivery. Presence
// counts every node.
func TestClusterOneOrder(t *testing.T) {
	nodes := startCluster(t, 3, "--history", "100")
	a, b, c := nodes[0], nodes[1], nodes[2]
	alice := join(t, a, "alice", "lobby", -1)
	bob := join(t, b, "bob", "lobby", -1)
	carol := join(t, c, "carol", "lobby", -1)
	all := []*member{alice, bob, carol}
	settle(t, b, "lobby", all...)
	base := len(alice.roomMsgs("lobby"))
	for _, m := range all[1:] {
		m.waitFor(func([]clusterMsg) bool { return len(m.roomMsgs("lobby")) >= base }, "the probes")
	}

	// Each client publishes 50 messages at once.
	const per = 50
	var wg sync.WaitGroup
	for i, m := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msgs []string
			for k := 0; k < per; k++ {
				msgs = append(msgs, fmt.Sprintf(`{"type":"room_message","room":"lobby","data":"%d-%d"}`, i, k))
			}
			if err := m.c.SendText(msgs...); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want := 3 * per
	for _, m := range all {
		m.waitFor(func([]clusterMsg) bool { return len(m.roomMsgs("lobby"))-base >= want }, "every room message")
	}
	ref := alice.roomMsgs("lobby")
	for i := 1; i < len(ref); i++ {
		if ref[i].Seq <= ref[i-1].Seq || ref[i].Prev != ref[i-1].Seq {
			t.Fatalf("alice: message %d has seq %d prev %d after seq %d: want increasing seqs chained by prev", i, ref[i].Seq, ref[i].Prev, ref[i-1].Seq)
		}
	}
	for _, m := range all[1:] {
		got := m.roomMsgs("lobby")
		if len(got) != len(ref) {
			t.Fatalf("%d room messages on one node, %d on another", len(got), len(ref))
		}
		for i := range got {
			if got[i].Seq != ref[i].Seq || !bytes.Equal(got[i].Data, ref[i].Data) {
				t.Fatalf("message %d: seq %d %s on one node, seq %d %s on alice's: not one order", i, got[i].Seq, got[i].Data, ref[i].Seq, ref[i].Data)
			}
		}
	}

	// A direct message from A to a user on B, and one to everyone
	// through C's API.
	if err := alice.c.SendText(`{"type":"direct_message","to":"bob","data":"psst","id":"d"}`); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(func(ms []clusterMsg) bool {
		for _, x := range ms {
			if x.Type == "message" && x.To != nil && *x.To == "bob" && string(x.Data) == `"psst"` && x.From == "alice" && x.Seq > 0 {
				return true
			}
		}
		return false
	}, "bob to get alice's direct message across nodes")
	if code, _ := publishAPI(t, c.api, `{"all":true,"data":"hello everyone"}`); code != http.StatusAccepted {
		t.Fatalf("publish to everyone: %d", code)
	}
	var allSeq []uint64
	for _, m := range all {
		m.waitFor(func(ms []clusterMsg) bool {
			for _, x := range ms {
				if x.All && string(x.Data) == `"hello everyone"` {
					allSeq = append(allSeq, x.Seq)
					return true
				}
			}
			return false
		}, "every client to get the message to everyone")
	}
	if allSeq[0] != allSeq[1] || allSeq[1] != allSeq[2] {
		t.Fatalf("the message to everyone has seqs %v on the three nodes, want one", allSeq)
	}

	// Presence counts every node (soft state: within its debounce).
	var count any
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		count = getJSON(t, a.api, "/v1/rooms/lobby")["count"]
		return count == 3.0
	}, func() string { return fmt.Sprintf("GET /v1/rooms/lobby on A: count %v, want 3", count) })
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		u := getJSON(t, a.api, "/v1/users/carol")
		return u["online"] == true && u["devices"] == 1.0
	}, c1mtest.Say("A to see carol, connected to C, online"))

	// A room whose members are all on A: B and C deliver none of it.
	dave := join(t, a, "dave", "a-only", -1)
	settle(t, a, "a-only", dave)
	before := []float64{b.Metric("c1m_cluster_delivered_total"), c.Metric("c1m_cluster_delivered_total")}
	for k := 0; k < 100; k++ {
		publishAPI(t, a.api, `{"room":"a-only","data":1}`)
	}
	dave.waitFor(func([]clusterMsg) bool { return len(dave.roomMsgs("a-only")) >= 101 }, "dave's 100 messages")
	after := []float64{b.Metric("c1m_cluster_delivered_total"), c.Metric("c1m_cluster_delivered_total")}
	if after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("nodes without members of the room delivered %v messages of it, want none (interest-based)", []float64{after[0] - before[0], after[1] - before[1]})
	}
}

// TestClusterRecovery: a client leaves node A; the room gets 50 messages;
// it reconnects to node B with since and gets exactly those 50, then live
// ones; a since the history no longer holds gets one gap notice.
func TestClusterRecovery(t *testing.T) {
	nodes := startCluster(t, 3, "--history", "60")
	a, b, c := nodes[0], nodes[1], nodes[2]
	erin := join(t, a, "erin", "r", -1)
	frank := join(t, c, "frank", "r", -1)
	settle(t, c, "r", erin, frank)
	last := erin.roomMsgs("r")
	since := last[len(last)-1].Seq
	erin.c.Close()
	<-erin.done
	var published []uint64
	for k := 0; k < 50; k++ {
		code, seq := publishAPI(t, c.api, fmt.Sprintf(`{"room":"r","data":%d}`, k))
		if code != http.StatusAccepted {
			t.Fatalf("publish %d: %d", k, code)
		}
		published = append(published, seq)
	}
	back := join(t, b, "erin", "r", int64(since))
	back.waitFor(func([]clusterMsg) bool { return len(back.roomMsgs("r")) >= 50 }, "the 50 missed messages")
	_, liveSeq := publishAPI(t, a.api, `{"room":"r","data":"live"}`)
	back.waitFor(func([]clusterMsg) bool { return len(back.roomMsgs("r")) >= 51 }, "the live message")
	// What erin missed is what frank, connected throughout, got after
	// since (the probes still in flight when erin left included).
	frank.waitFor(func([]clusterMsg) bool {
		ms := frank.roomMsgs("r")
		return ms[len(ms)-1].Seq == liveSeq
	}, "frank to get the live message")
	var want []uint64
	for _, x := range frank.roomMsgs("r") {
		if x.Seq > since {
			want = append(want, x.Seq)
		}
	}
	back.waitFor(func([]clusterMsg) bool { return len(back.roomMsgs("r")) >= len(want) }, "every missed message and the live one")
	var got []uint64
	for _, x := range back.roomMsgs("r") {
		got = append(got, x.Seq)
	}
	if !slices.Equal(got, want) || !slices.Contains(got, published[0]) || !slices.Contains(got, published[49]) {
		t.Fatalf("after reconnecting with since %d: seqs %v, want what frank got after it, each once, in order: %v", since, got, want)
	}
	for _, x := range back.snapshot() {
		if x.Type == "gap" {
			t.Fatalf("a gap notice %+v where the history held everything", x)
		}
	}
	// 60 kept: a since from before the 50 + 60 that followed is gone.
	for k := 0; k < 20; k++ {
		publishAPI(t, c.api, `{"room":"r","data":"more"}`)
	}
	old := join(t, b, "grace", "r", int64(since))
	old.waitFor(func(ms []clusterMsg) bool {
		for _, x := range ms {
			if x.Type == "gap" && x.FromSeq == since+1 {
				return true
			}
		}
		return false
	}, "a gap notice for a since the history no longer holds")
}

// TestClusterPresence: presence is cluster-wide: a member on A that asked
// for presence events sees users join and leave on B, and the room's
// count (in the API and in the events) covers both nodes.
func TestClusterPresence(t *testing.T) {
	nodes := startCluster(t, 3, "--presence-window", "200ms")
	a, b := nodes[0], nodes[1]
	alice := joinWith(t, a, "alice", "p", `{"type":"join","room":"p","presence":true}`)
	bob := join(t, b, "bob", "p", -1)
	alice.waitFor(func(ms []clusterMsg) bool {
		for _, x := range ms {
			if x.Type == "presence" && slices.Contains(x.Joined, "bob") && x.Count != nil && *x.Count >= 1 {
				return true
			}
		}
		return false
	}, "alice, on A, to see bob join on B")
	var count any
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		count = getJSON(t, a.api, "/v1/rooms/p")["count"]
		return count == 2.0
	}, func() string { return fmt.Sprintf("A counts %v members of p, want 2 (one per node)", count) })
	bob.c.Close()
	alice.waitFor(func(ms []clusterMsg) bool {
		for _, x := range ms {
			if x.Type == "presence" && slices.Contains(x.Left, "bob") {
				return true
			}
		}
		return false
	}, "alice to see bob leave on B")
	// The status page of any node shows every node, each once.
	var names any
	c1mtest.Eventually(t, 20*time.Second, func() bool {
		names = getJSON(t, a.api, "/v1/info")["nodes"]
		l, _ := names.([]any)
		return len(l) == 3 && slices.Equal(l, []any{"node-0", "node-1", "node-2"})
	}, func() string {
		return fmt.Sprintf("A's status page shows nodes %v, want node-0, node-1, node-2", names)
	})
}
