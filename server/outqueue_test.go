package server

import (
	"bytes"
	"testing"
)

// drain concatenates what the queue would write, in order, and consumes
// it in steps of step bytes (as partial writes would).
func drain(q *outQueue, step int) []byte {
	var out []byte
	for !q.empty() {
		var segs [][]byte
		segs = q.appendPending(segs, 64)
		var b []byte
		for _, s := range segs {
			b = append(b, s...)
		}
		n := min(step, len(b))
		out = append(out, b[:n]...)
		q.advance(n)
	}
	return out
}

func pong(p string) string { return "\x8a" + string(rune(len(p))) + p }
func ping(p string) string { return "\x89" + string(rune(len(p))) + p }

func TestOutQueueOrder(t *testing.T) {
	f := func(name string, ops func(q *outQueue), want string, alts ...string) {
		t.Helper()
		for _, step := range []int{1, 3, 1 << 20} {
			q := getOutQueue()
			ops(q)
			if q.bytes != len(want) {
				t.Fatalf("%s: bytes %d, want %d", name, q.bytes, len(want))
			}
			got := drain(q, step)
			ok := bytes.Equal(got, []byte(want))
			for _, a := range alts {
				ok = ok || bytes.Equal(got, []byte(a))
			}
			if !ok {
				t.Fatalf("%s (steps of %d): wrote %q, want %q (or %q)", name, step, got, want, alts)
			}
			if q.bytes != 0 {
				t.Fatalf("%s: %d bytes left counted after draining", name, q.bytes)
			}
			putOutQueue(q)
		}
	}
	f("data keeps its order", func(q *outQueue) { q.push([]byte("aa")); q.push([]byte("bb")) }, "aabb")
	f("a pong goes ahead of unwritten data", func(q *outQueue) {
		q.push([]byte("aa"))
		q.push([]byte("bb"))
		q.setPong([]byte("P"))
	}, pong("P")+"aabb")
	f("but not into a frame already partly written", func(q *outQueue) {
		q.push([]byte("aaaa"))
		q.push([]byte("bb"))
		q.advance(1)
		q.setPong([]byte("P"))
	}, "aaa"+pong("P")+"bb")
	f("a newer pong replaces a pending one", func(q *outQueue) {
		q.push([]byte("aa"))
		for _, p := range []string{"1", "22", "333"} {
			q.setPong([]byte(p))
		}
	}, pong("333")+"aa")
	f("a ping and a pong wait together, pong first", func(q *outQueue) {
		q.push([]byte("aa"))
		q.setPing([]byte("12345678"))
		q.setPong([]byte("x"))
	}, pong("x")+ping("12345678")+"aa")
	f("a pong arriving while one is on the wire waits for the next gap", func(q *outQueue) {
		q.setPong([]byte("first"))
		q.push([]byte("aa"))
		q.advance(2) // half of the first pong is out
		q.setPong([]byte("second"))
		q.setPong([]byte("third"))
		// Either order puts the pong between frames: the newer one goes
		// out at the first gap after the one on the wire.
	}, pong("first")[2:]+"aa"+pong("third"), pong("first")[2:]+pong("third")+"aa")
	f("an error close truncates all but the partly written head", func(q *outQueue) {
		q.push([]byte("aaaa"))
		q.push([]byte("bb"))
		q.advance(2)
		q.setPong([]byte("P"))
		if n := q.truncate(); n != 1 {
			t.Fatalf("truncate dropped %d frames, want 1", n)
		}
		q.push([]byte("C"))
	}, "aaC")
	f("truncating an unstarted queue keeps nothing", func(q *outQueue) {
		q.push([]byte("aaaa"))
		q.push([]byte("bb"))
		if n := q.truncate(); n != 2 {
			t.Fatalf("truncate dropped %d frames, want 2", n)
		}
		q.push([]byte("C"))
	}, "C")
	f("advancing and compaction keep the content", func(q *outQueue) {
		for i := 0; i < 100; i++ {
			q.push([]byte{byte('a' + i%26)})
			if i%2 == 1 {
				q.advance(1)
			}
		}
	}, string(func() []byte {
		var b []byte
		for i := 50; i < 100; i++ {
			b = append(b, byte('a'+i%26))
		}
		return b
	}()))
}

// TestOutQueuePingFloodIsBounded: a million pongs for a client that does
// not read leave one pong pending, O(1) each, and cost what one pong does.
func TestOutQueuePingFloodIsBounded(t *testing.T) {
	q := getOutQueue()
	defer putOutQueue(q)
	q.push([]byte("data"))
	q.advance(1)
	for i := 0; i < 1_000_000; i++ {
		q.setPong(nil)
	}
	if q.frames() != 1 || q.bytes != 3+2 {
		t.Fatalf("after a million pongs: %d data frames and %d bytes pending, want 1 and 5", q.frames(), q.bytes)
	}
	if c := q.cost(); c != 5+entryOverhead {
		t.Fatalf("cost %d, want %d", c, 5+entryOverhead)
	}
}

// TestOutQueueCostCountsEntries: many tiny frames cost their overhead.
func TestOutQueueCostCountsEntries(t *testing.T) {
	q := getOutQueue()
	defer putOutQueue(q)
	for i := 0; i < 10; i++ {
		q.push([]byte{1, 2})
	}
	if q.cost() != 10*(2+entryOverhead) {
		t.Fatalf("cost of 10 two-byte frames %d, want %d", q.cost(), 10*(2+entryOverhead))
	}
}

func TestOutQueueEmptiesFully(t *testing.T) {
	q := getOutQueue()
	q.push([]byte("abc"))
	q.push([]byte("de"))
	q.setPing([]byte("12345678"))
	q.advance(5 + 10)
	if !q.empty() || q.bytes != 0 || q.off != 0 || q.ctlOff != 0 {
		t.Fatalf("queue not empty after writing everything: %+v", q)
	}
	putOutQueue(q)
}
