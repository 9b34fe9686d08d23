package cluster

import (
	"fmt"
	"slices"
	"testing"

	"c1m/broadcast"
)

// TestStreamFailover: with three replicas, the stream survives the loss
// of its leader's node: the two others elect a new sequencer, publishes
// go on, both survivors keep one order, and history still reaches back
// to before the loss without a hole.
func TestStreamFailover(t *testing.T) {
	nodes := startCluster(t, 3, func(_ int, c *Config) { c.Replicas, c.History = 3, 100 })
	room := broadcast.ToRoom("durable")
	for _, n := range nodes {
		if err := n.Interest(room); err != nil {
			t.Fatal(err)
		}
	}
	waitSubscribed(t, nodes, room, nodes)
	leader := streamLeader(t, nodes)
	var rest []*node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	for k := range 10 {
		publishWait(t, rest[0].Cluster, room, "x", fmt.Sprintf(`{"before":%d}`, k))
	}
	eventually(t, "the first ten everywhere", func() bool {
		return rest[0].rec.count(room) == 10 && rest[1].rec.count(room) == 10
	})
	first := rest[0].rec.of(room)[0].Seq

	leader.Server().Shutdown()
	// Publishes fail (ErrStream, ErrTimeout) until a new leader is
	// elected and its interest has reached each survivor's server over
	// the routes (until then that node's publish gets 503, no
	// responders, even when the other one's goes through); then they
	// go on.
	for _, n := range rest {
		eventually(t, "a publish through the new leader from each survivor", func() bool {
			_, err := publishAck(n.Cluster, room, "x", `{"after":0}`)
			return err == nil
		})
	}
	for k := 1; k < 10; k++ {
		publishWait(t, rest[1].Cluster, room, "y", fmt.Sprintf(`{"after":%d}`, k))
	}
	// (A publish that timed out during the election may still have
	// been stored: count at least, and check the last.)
	eventually(t, "the survivors have the ten after", func() bool {
		for _, n := range rest {
			ms := n.rec.of(room)
			if len(ms) < 20 || string(ms[len(ms)-1].Data) != `{"after":9}` {
				return false
			}
		}
		return true
	})
	a, b := rest[0].rec.of(room), rest[1].rec.of(room)
	if !slices.Equal(seqs(a), seqs(b)) {
		t.Fatalf("survivors disagree: %v / %v", seqs(a), seqs(b))
	}
	var prev uint64
	for _, m := range a {
		if m.Prev != prev {
			t.Fatalf("message %d: Prev %d, want %d", m.Seq, m.Prev, prev)
		}
		prev = m.Seq
	}
	res, err := historyWait(t, rest[1].Cluster, room, first, 100)
	if err != nil || res.Gap || !slices.Equal(seqs(res.Messages), seqs(a[1:])) {
		t.Fatalf("history after failover: %v gap %v, %v; want %v", seqs(res.Messages), res.Gap, err, seqs(a[1:]))
	}
}
