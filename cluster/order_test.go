package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"c1m/broadcast"
)

// TestOneOrderAcrossNodes: three embedded nodes; a room has members on
// all three; each node publishes concurrently. Every node receives
// every message, with the same Seq, in the same order; each message's
// Prev is the Seq before it; and each publisher's messages keep their
// order.
func TestOneOrderAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	room := broadcast.ToRoom("lobby.*>") // a name with subject metacharacters
	for _, n := range nodes {
		if err := n.Interest(room); err != nil {
			t.Fatal(err)
		}
	}
	waitSubscribed(t, nodes, room, nodes)

	const perNode = 200
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perNode {
				if _, err := publishAck(n.Cluster, room, fmt.Sprintf("n%d", i), fmt.Sprintf(`{"n":%d,"k":%d}`, i, k)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := perNode * len(nodes)
	for _, n := range nodes {
		eventually(t, n.NodeName()+" has every message", func() bool { return n.rec.count(room) == total })
	}
	first := nodes[0].rec.of(room)
	for _, n := range nodes[1:] {
		got := n.rec.of(room)
		if !slices.Equal(seqs(got), seqs(first)) || !slices.Equal(datas(got), datas(first)) {
			t.Fatalf("%s saw another order than n0", n.NodeName())
		}
	}
	var prev uint64
	last := map[string]int{}
	for _, m := range first {
		if m.Prev != prev {
			t.Fatalf("message %d: Prev %d, want %d", m.Seq, m.Prev, prev)
		}
		prev = m.Seq
		var n, k int
		if _, err := fmt.Sscanf(string(m.Data), `{"n":%d,"k":%d}`, &n, &k); err != nil {
			t.Fatal(err)
		}
		if want := last[m.From]; k != want {
			t.Fatalf("%s's message %d arrived where %d was due", m.From, k, want)
		}
		last[m.From] = k + 1
		if m.From != fmt.Sprintf("n%d", n) || m.Time == 0 {
			t.Fatalf("message %+v: wrong sender or no time", m)
		}
	}
	for _, n := range nodes {
		if st := n.Stats(); st.Holes != 0 || st.Published != perNode {
			t.Fatalf("%s stats %+v: want no hole and %d published", n.NodeName(), st, perNode)
		}
	}
}

// waitSubscribed waits until every node of subs holds a
// subscription for tg and every other node of all knows it through its
// routes, so that a message published now reaches every one of subs.
func waitSubscribed(t *testing.T, all []*node, tg broadcast.Target, subs []*node) {
	t.Helper()
	live, err := all[0].subj.live(tg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "interest in "+live+" everywhere", func() bool {
		for _, s := range subs {
			if !localSub(t, s, live) {
				return false
			}
			for _, n := range all {
				if n != s && !routeSub(t, n, s.NodeName(), live) {
					return false
				}
			}
		}
		return true
	})
}

// localSub reports whether n's server has a client subscription on
// subject.
func localSub(t *testing.T, n *node, subject string) bool {
	t.Helper()
	sz, err := n.Server().Subsz(&server.SubszOptions{Test: subject, Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	return sz.Total > 0
}

// routeSub reports whether n's server knows, through its routes, that
// the node named remote subscribes to subject.
func routeSub(t *testing.T, n *node, remote, subject string) bool {
	t.Helper()
	rz, err := n.Server().Routez(&server.RoutezOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName == remote && slices.Contains(r.Subs, subject) {
			return true
		}
	}
	return false
}
