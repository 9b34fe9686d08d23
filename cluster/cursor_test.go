package cluster

import "testing"

func TestCursor(t *testing.T) {
	type step struct {
		seq, prev     uint64
		deliver, hole bool
		last          uint64
	}
	f := func(start uint64, steps ...step) {
		t.Helper()
		c := Cursor{Last: start}
		for i, s := range steps {
			d, h := c.Next(Message{Seq: s.seq, Prev: s.prev})
			if d != s.deliver || h != s.hole || c.Last != s.last {
				t.Fatalf("step %d (%d after %d): deliver %v hole %v last %d; want %v %v %d",
					i, s.seq, s.prev, d, h, c.Last, s.deliver, s.hole, s.last)
			}
		}
	}
	// A fresh reader takes the first message whatever its Prev.
	f(0, step{7, 3, true, false, 7}, step{9, 7, true, false, 9})
	// Duplicates (history then live overlap) are dropped.
	f(5, step{7, 5, true, false, 7}, step{7, 5, false, false, 7}, step{6, 2, false, false, 7})
	// A hole: Prev after Last. The cursor waits for the caller.
	f(5, step{9, 7, true, true, 5})
	// Prev 0: unknown (the previous message expired): no hole.
	f(5, step{12, 0, true, false, 12})
	c := Cursor{Last: 5}
	c.Skip(9)
	c.Skip(3)
	if c.Last != 9 {
		t.Fatalf("Skip: last %d", c.Last)
	}
}
