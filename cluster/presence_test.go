package cluster

import (
	"testing"
	"time"

	"c1m/broadcast"
)

// TestPresenceAcrossNodes: room and user counts add up over the nodes,
// follow changes, reach a node that joins later (through a snapshot),
// and stop counting a node that dies within the TTL.
func TestPresenceAcrossNodes(t *testing.T) {
	cfgs := clusterConfigs(t, 3, nil)
	n0, n1 := startNode(t, cfgs[0]), startNode(t, cfgs[1])
	lobby, alice := broadcast.ToRoom("lobby"), broadcast.ToUser("alice")
	n0.SetCount(lobby, 3)
	n1.SetCount(lobby, 2)
	n1.SetCount(alice, 2)
	room := func(n *node, want int) func() bool {
		return func() bool { return n.RoomCount(lobby.Name) == want }
	}
	user := func(n *node, online bool, devices int) func() bool {
		return func() bool { o, d := n.UserOnline(alice.Name); return o == online && d == devices }
	}
	eventually(t, "n0 counting 5 in the lobby", room(n0, 5))
	eventually(t, "n1 counting 5 in the lobby", room(n1, 5))
	eventually(t, "n0 seeing alice's 2 devices", user(n0, true, 2))

	// A node that joins later learns the counts from snapshots.
	n2 := startNode(t, cfgs[2])
	eventually(t, "n2 counting 5 in the lobby", room(n2, 5))
	n2.SetCount(alice, 1)
	for _, n := range []*node{n0, n1, n2} {
		eventually(t, n.NodeName()+" seeing alice's 3 devices", user(n, true, 3))
	}

	// Changes.
	n0.SetCount(lobby, 0)
	for _, n := range []*node{n0, n1, n2} {
		eventually(t, n.NodeName()+" counting 2 in the lobby", room(n, 2))
	}

	// n1 dies: its server stops, it sends nothing more (no leave
	// message). Within the TTL the others stop counting it.
	n1.Server().Shutdown()
	eventually(t, "n0 forgetting n1's lobby members", room(n0, 0))
	eventually(t, "n2 forgetting n1's devices", user(n2, true, 1))
	eventually(t, "n0 forgetting n1's devices", user(n0, true, 1))
	if o, d := n0.UserOnline("nobody"); o || d != 0 {
		t.Fatalf("an unknown user is online with %d devices", d)
	}
}

// TestPresenceLeave: a node that closes tells the others, which stop
// counting it at once rather than after the TTL (an hour here).
func TestPresenceLeave(t *testing.T) {
	nodes := startCluster(t, 2, func(_ int, c *Config) { c.PresenceTTL = time.Hour })
	a, b := nodes[0], nodes[1]
	b.SetCount(broadcast.ToUser("carol"), 1)
	eventually(t, "a seeing carol", func() bool { o, _ := a.UserOnline("carol"); return o })
	if len(a.Nodes()) != 1 || a.Nodes()[0] != "n1" {
		t.Fatalf("a counts nodes %v", a.Nodes())
	}
	b.Close()
	eventually(t, "a forgetting carol", func() bool { o, _ := a.UserOnline("carol"); return !o })
	if len(a.Nodes()) != 0 {
		t.Fatalf("a still counts %v", a.Nodes())
	}
}

// TestPresenceBounds: local entries beyond MaxPresenceEntries are
// refused and counted; counts of "everyone" are ignored.
func TestPresenceBounds(t *testing.T) {
	nodes := startCluster(t, 1, func(_ int, c *Config) { c.MaxPresenceEntries = 2 })
	n := nodes[0]
	n.SetCount(broadcast.ToRoom("a"), 1)
	n.SetCount(broadcast.ToRoom("b"), 1)
	n.SetCount(broadcast.ToRoom("c"), 1)
	n.SetCount(broadcast.ToRoom("a"), 5) // an update within the cap
	n.SetCount(broadcast.ToAll(), 9)
	if n.RoomCount("a") != 5 || n.RoomCount("c") != 0 || n.Stats().PresenceDropped != 1 {
		t.Fatalf("a %d c %d stats %+v", n.RoomCount("a"), n.RoomCount("c"), n.Stats())
	}
}
