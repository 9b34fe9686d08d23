package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"c1m/broadcast"
)

// TestLastSequenceIsPerSubject: the Prev JetStream gives a republished
// message (Nats-Last-Sequence) is the previous message of the same
// room, not of the stream.
func TestLastSequenceIsPerSubject(t *testing.T) {
	nodes := startCluster(t, 1, nil)
	n := nodes[0]
	a, b := broadcast.ToRoom("a"), broadcast.ToRoom("b")
	for _, r := range []broadcast.Target{a, b} {
		if err := n.Interest(r); err != nil {
			t.Fatal(err)
		}
	}
	waitLocalSub(t, n, a)
	waitLocalSub(t, n, b)
	var order []broadcast.Target
	for i := range 12 {
		r := a
		if i%3 == 1 {
			r = b
		}
		publishWait(t, n.Cluster, r, "x", `{}`)
		order = append(order, r)
	}
	eventually(t, "every message", func() bool { return n.rec.count(a)+n.rec.count(b) == len(order) })
	for _, r := range []broadcast.Target{a, b} {
		var prev uint64
		for _, m := range n.rec.of(r) {
			if m.Prev != prev {
				t.Fatalf("%s: message %d has Prev %d, want %d (the room's previous)", r.Name, m.Seq, m.Prev, prev)
			}
			prev = m.Seq
		}
	}
	if ms := n.rec.of(a); ms[1].Seq-ms[0].Seq < 2 {
		t.Fatalf("room a's sequence numbers %v do not skip room b's", seqs(ms))
	}
}

func waitLocalSub(t *testing.T, n *node, tg broadcast.Target) {
	t.Helper()
	live, _ := n.subj.live(tg)
	eventually(t, "a subscription to "+live, func() bool { return localSub(t, n, live) })
}

// TestHistoryResume: a reader last saw seq L on node A; the room gets 50
// messages while it is away; it comes back on node C while messages
// keep coming, takes interest, asks History for what follows L and
// merges it with the live messages through a Cursor. It gets every
// message after L exactly once, in the room's order.
func TestHistoryResume(t *testing.T) {
	nodes := startCluster(t, 3, func(_ int, c *Config) { c.History = 1000 })
	a, b, c := nodes[0], nodes[1], nodes[2]
	room := broadcast.ToRoom("resume")
	if err := a.Interest(room); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, nodes, room, []*node{a})
	for k := range 10 {
		publishWait(t, b.Cluster, room, "b", fmt.Sprintf(`{"before":%d}`, k))
	}
	eventually(t, "the first ten on A", func() bool { return a.rec.count(room) == 10 })
	last := a.rec.of(room)[9].Seq

	// Away: 50 messages from two nodes.
	publishFrom(t, []*node{a, b}, room, 50, "missed")
	// Back, on C, while 30 more arrive.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishFrom(t, []*node{a, b}, room, 30, "during")
	}()
	if err := c.Interest(room); err != nil {
		t.Fatal(err)
	}
	cur := Cursor{Last: last}
	var got []Message
	fetch := func() {
		for {
			res, err := historyWait(t, c.Cluster, room, cur.Last, 16)
			if err != nil {
				t.Fatal(err)
			}
			if res.Gap {
				t.Fatalf("a gap after %d (first %d) with a history of 1,000", cur.Last, res.First)
			}
			for _, m := range res.Messages {
				if d, _ := cur.Next(m); d {
					got = append(got, m)
				}
			}
			if !res.More {
				return
			}
		}
	}
	fetch()
	wg.Wait()
	// Interest is asynchronous: on a slow box all 30 may have gone out
	// before C's subscription was in place. Once it is on every node, one
	// more message, which C must get live.
	waitSubscribed(t, nodes, room, []*node{a, c})
	publishWait(t, b.Cluster, room, "b", `{"after":1}`)
	// Then the live messages C received since its Interest.
	const total = 10 + 50 + 30 + 1
	eventually(t, "every message on A", func() bool { return a.rec.count(room) == total })
	want := a.rec.of(room)[10:]
	eventually(t, "C live up to the last message", func() bool {
		live := c.rec.of(room)
		return len(live) > 0 && live[len(live)-1].Seq == want[len(want)-1].Seq
	})
	for _, m := range c.rec.of(room) {
		deliver, hole := cur.Next(m)
		if hole {
			fetch()
			deliver, hole = cur.Next(m)
			if hole {
				t.Fatalf("a hole before %d after fetching again", m.Seq)
			}
		}
		if deliver {
			got = append(got, m)
		}
	}
	if !slices.Equal(seqs(got), seqs(want)) || !slices.Equal(datas(got), datas(want)) {
		t.Fatalf("resumed reader got %v, want %v", seqs(got), seqs(want))
	}
	// And it keeps going live.
	publishWait(t, b.Cluster, room, "b", `{"after":1}`)
	eventually(t, "the next live message on C", func() bool {
		live := c.rec.of(room)
		d, hole := cur.Next(live[len(live)-1])
		return d && !hole
	})
}

// publishFrom publishes count messages spread over nodes, concurrently,
// each node's in order.
func publishFrom(t *testing.T, nodes []*node, tg broadcast.Target, count int, tag string) {
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; k < count; k += len(nodes) {
				if _, err := publishAck(n.Cluster, tg, n.NodeName(), fmt.Sprintf(`{%q:%d}`, tag, k)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestHistoryGap: with a history of 5 per room, asking from a trimmed
// message reports the gap and returns what is left; limits and More.
func TestHistoryGap(t *testing.T) {
	nodes := startCluster(t, 1, func(_ int, c *Config) { c.History = 5 })
	n := nodes[0]
	room := broadcast.ToRoom("trimmed")
	var all []uint64
	for k := range 20 {
		all = append(all, publishWait(t, n.Cluster, room, "x", fmt.Sprintf(`{"k":%d}`, k)))
		publishWait(t, n.Cluster, broadcast.ToRoom("other"), "x", `{}`)
	}
	f := func(since uint64, limit int, want []uint64, gap bool, first uint64, more bool) {
		t.Helper()
		res, err := historyWait(t, n.Cluster, room, since, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := seqs(res.Messages); !slices.Equal(got, want) || res.Gap != gap || res.First != first || res.More != more {
			t.Fatalf("History(%d, %d) = %v gap %v first %d more %v; want %v %v %d %v",
				since, limit, got, res.Gap, res.First, res.More, want, gap, first, more)
		}
		prev := since
		if gap {
			prev = 0
		}
		for _, m := range res.Messages {
			if m.Prev != prev || m.Target != room || m.From != "x" || m.Time == 0 {
				t.Fatalf("History(%d): message %+v, want Prev %d", since, m, prev)
			}
			prev = m.Seq
		}
	}
	kept := all[15:]
	f(all[0], 100, kept, true, kept[0], false)             // trimmed: gap, the five left
	f(all[15], 100, kept[1:], false, 0, false)             // from the oldest kept: no gap
	f(all[19], 100, nil, false, 0, false)                  // up to date
	f(0, 100, kept, false, 0, false)                       // from the start
	f(all[15], 2, kept[1:3], false, 0, true)               // a limit
	f(all[19]+1000, 10, nil, true, 0, false)               // a seq the stream never had (reset)
	f(0, DefaultMaxHistoryBatch*10, kept, false, 0, false) // capped limit still answers
	if _, err := historyWait(t, n.Cluster, broadcast.ToRoom(""), 0, 1); err != ErrBadName {
		t.Fatalf("History of an empty name: %v", err)
	}
}

// TestHistoryTTL: messages leave with HistoryTTL; the next message's
// Prev is then 0 (unknown), and asking from the expired one reports a
// gap.
func TestHistoryTTL(t *testing.T) {
	nodes := startCluster(t, 1, func(_ int, c *Config) { c.History = 10; c.HistoryTTL = time.Second })
	n := nodes[0]
	room := broadcast.ToRoom("fleeting")
	if err := n.Interest(room); err != nil {
		t.Fatal(err)
	}
	waitLocalSub(t, n, room)
	first := publishWait(t, n.Cluster, room, "x", `{}`)
	eventually(t, "the message to expire", func() bool {
		res, err := historyWait(t, n.Cluster, room, 0, 10)
		return err == nil && len(res.Messages) == 0
	})
	publishWait(t, n.Cluster, room, "x", `{}`)
	eventually(t, "two deliveries", func() bool { return n.rec.count(room) == 2 })
	if m := n.rec.of(room)[1]; m.Prev != 0 {
		t.Fatalf("after expiry Prev is %d, want 0", m.Prev)
	}
	res, err := historyWait(t, n.Cluster, room, first, 10)
	if err != nil || !res.Gap || len(res.Messages) != 1 {
		t.Fatalf("History from the expired message: %+v, %v", res, err)
	}
}

func TestHistoryOff(t *testing.T) {
	nodes := startCluster(t, 1, nil)
	if err := nodes[0].History(broadcast.ToRoom("x"), 0, 1, func(HistoryResult, error) {}); err != ErrNoHistory {
		t.Fatalf("History with --history 0: %v", err)
	}
}

// TestFileStorageRestart: a single embedded node with --data-dir keeps
// its history across a restart, and sequence numbers go on.
func TestFileStorageRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "solo")
	cfg.DataDir, cfg.Storage, cfg.History = dir, StorageFile, 100
	n := startNode(t, cfg)
	eventually(t, "ready", func() bool { return n.Status().State == StateReady })
	room := broadcast.ToRoom("kept")
	var sent []uint64
	for range 5 {
		sent = append(sent, publishWait(t, n.Cluster, room, "x", `{}`))
	}
	n.Close()
	n = startNode(t, cfg)
	eventually(t, "ready again", func() bool { return n.Status().State == StateReady })
	res, err := historyWait(t, n.Cluster, room, sent[0], 100)
	if err != nil || res.Gap || !slices.Equal(seqs(res.Messages), sent[1:]) {
		t.Fatalf("history after a restart: %+v, %v; want %v", res, err, sent[1:])
	}
	if next := publishWait(t, n.Cluster, room, "x", `{}`); next <= sent[4] {
		t.Fatalf("sequence restarted: %d after %d", next, sent[4])
	}
}
