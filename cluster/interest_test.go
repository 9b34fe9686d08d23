package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"c1m/broadcast"
)

// streamLeader returns the node that leads the stream (its sequencer).
func streamLeader(t *testing.T, nodes []*node) *node {
	t.Helper()
	js, err := jetstream.New(nodes[0].Conn())
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	eventually(t, "a stream leader", func() bool {
		s, err := js.Stream(context.Background(), DefaultStream)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	})
	for _, n := range nodes {
		if n.NodeName() == leader {
			return n
		}
	}
	t.Fatalf("leader %q is none of the nodes", leader)
	return nil
}

// routeInMsgs is the number of messages a node's server received over
// its routes.
func routeInMsgs(t *testing.T, n *node) int64 {
	t.Helper()
	rz, err := n.Server().Routez(&server.RoutezOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var in int64
	for _, r := range rz.Routes {
		in += r.InMsgs
	}
	return in
}

// TestInterestRouting: a room whose members are all on node A (the
// stream's sequencer, so no hop is needed to order it) sends nothing to
// B and C: they hold no subscription for it, no route advertises one,
// and their servers' route traffic does not grow with the room's
// messages. The same number of messages to a room with a member on B
// does reach B's server (the control that shows the measure works).
func TestInterestRouting(t *testing.T) {
	nodes := startCluster(t, 3, func(_ int, c *Config) {
		// Quiet presence, so that route traffic is the rooms'.
		c.PresenceInterval, c.PresenceTTL = DefaultPresenceInterval, DefaultPresenceTTL
	})
	a := streamLeader(t, nodes)
	var others []*node
	for _, n := range nodes {
		if n != a {
			others = append(others, n)
		}
	}
	b := others[0]
	solo, shared := broadcast.ToRoom("solo"), broadcast.ToRoom("shared")
	if err := a.Interest(solo); err != nil {
		t.Fatal(err)
	}
	if err := b.Interest(shared); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, nodes, solo, []*node{a})
	waitSubscribed(t, nodes, shared, []*node{b})
	soloLive, _ := a.subj.live(solo)
	for _, o := range others {
		if localSub(t, o, soloLive) {
			t.Fatalf("%s subscribes to %s", o.NodeName(), soloLive)
		}
		for _, n := range nodes {
			if routeSub(t, n, o.NodeName(), soloLive) {
				t.Fatalf("%s's route says %s subscribes to %s", n.NodeName(), o.NodeName(), soloLive)
			}
		}
	}

	const n = 2000
	before := map[*node]int64{}
	for _, o := range others {
		before[o] = routeInMsgs(t, o)
	}
	publishMany(t, a, solo, n)
	eventually(t, "the solo room's messages on A", func() bool { return a.rec.count(solo) == n })
	for _, o := range others {
		if d := routeInMsgs(t, o) - before[o]; d > n/10 {
			t.Fatalf("%s received %d messages over its routes while A's own room got %d", o.NodeName(), d, n)
		}
		if o.rec.count(solo) != 0 {
			t.Fatalf("%s delivered the solo room", o.NodeName())
		}
	}

	before[b] = routeInMsgs(t, b)
	publishMany(t, a, shared, n)
	eventually(t, "the shared room's messages on B", func() bool { return b.rec.count(shared) == n })
	if d := routeInMsgs(t, b) - before[b]; d < n {
		t.Fatalf("B received %d messages over its routes for %d room messages: the measure misses them", d, n)
	}
}

// publishMany publishes count messages from n to tg and waits for
// every acknowledgement.
func publishMany(t *testing.T, n *node, tg broadcast.Target, count int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for k := range count {
		wg.Add(1)
		for {
			err := n.Publish(tg, "a", fmt.Appendf(nil, `{"k":%d}`, k), func(_ uint64, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
			if err == nil {
				break
			}
			if err != ErrBusy {
				t.Fatal(err)
			}
			waitBriefly()
		}
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// TestInterestCounting: Interest is reference-counted; the
// subscription lives while one reference does.
func TestInterestCounting(t *testing.T) {
	nodes := startCluster(t, 1, nil)
	n := nodes[0]
	room := broadcast.ToRoom("counted")
	live, _ := n.subj.live(room)
	subscribed := func() bool { return localSub(t, n, live) }
	for range 2 {
		if err := n.Interest(room); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the subscription", subscribed)
	n.Release(room)
	if !n.Interested(room) {
		t.Fatal("one Release of two dropped the interest")
	}
	publishWait(t, n.Cluster, room, "x", `{}`)
	eventually(t, "a delivery with one reference left", func() bool { return n.rec.count(room) == 1 })
	n.Release(room)
	eventually(t, "the unsubscription", func() bool { return !subscribed() })
	n.Release(room) // one too many: nothing happens
	if n.Interested(room) || n.Stats().Subscriptions != 1 {
		t.Fatalf("after the last Release: interested %v, stats %+v", n.Interested(room), n.Stats())
	}
	if err := n.Interest(broadcast.ToRoom("")); err != ErrBadName {
		t.Fatalf("Interest in an empty name: %v", err)
	}
}

// TestInterestCap: MaxInterest bounds the subscriptions.
func TestInterestCap(t *testing.T) {
	nodes := startCluster(t, 1, func(_ int, c *Config) { c.MaxInterest = 3 })
	n := nodes[0]
	// "everyone" holds one.
	for _, r := range []string{"a", "b"} {
		if err := n.Interest(broadcast.ToRoom(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Interest(broadcast.ToRoom("c")); err != ErrInterestFull {
		t.Fatalf("a fourth subscription: %v", err)
	}
	if err := n.Interest(broadcast.ToRoom("a")); err != nil {
		t.Fatalf("a second reference to a held room: %v", err)
	}
}

// TestDirectAndEveryoneOrder: a user's direct messages (devices on two
// nodes) and "everyone" keep one order across nodes too.
func TestDirectAndEveryoneOrder(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	user := broadcast.ToUser("bob")
	for _, n := range nodes[1:] {
		if err := n.Interest(user); err != nil {
			t.Fatal(err)
		}
	}
	waitSubscribed(t, nodes, user, nodes[1:])
	const per = 100
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range per {
				for _, tg := range []broadcast.Target{user, allTarget} {
					if _, err := publishAck(n.Cluster, tg, fmt.Sprintf("n%d", i), fmt.Sprintf(`{"k":%d}`, k)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, tg := range []broadcast.Target{user, allTarget} {
		holders := nodes
		if tg == user {
			holders = nodes[1:]
		}
		for _, n := range holders {
			eventually(t, n.NodeName()+" has every message", func() bool { return n.rec.count(tg) == 3*per })
		}
		ref := seqs(holders[0].rec.of(tg))
		for _, n := range holders[1:] {
			if got := seqs(n.rec.of(tg)); !slices.Equal(got, ref) {
				t.Fatalf("%v: %s saw another order", tg, n.NodeName())
			}
		}
		if !slices.IsSorted(ref) {
			t.Fatalf("%v: sequence numbers out of order", tg)
		}
	}
	if nodes[0].rec.count(user) != 0 {
		t.Fatal("a node without the user's devices received the direct messages")
	}
}
