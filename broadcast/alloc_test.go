package broadcast

import (
	"sync/atomic"
	"testing"

	"c1m/internal/c1mtest"
)

// countSender accepts everything without allocating.
type countSender struct{ n atomic.Int64 }

func (c *countSender) Send(ConnID, []byte) error { c.n.Add(1); return nil }
func (c *countSender) CloseSlow(ConnID)          {}

// TestZeroAllocsPerTarget: the per-target path (lookup, gap check, Send,
// counting) allocates nothing, so a broadcast's allocations do not grow
// with its audience.
func TestZeroAllocsPerTarget(t *testing.T) {
	c1mtest.SkipAllocsUnderRace(t)
	cs := &countSender{}
	h, err := New(Config{MaxFDs: 4096, ChunkSize: 512}, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var ids []ConnID
	for i := 0; i < 2000; i++ {
		_ = h.Register(id(i), "")
		_, _ = h.Join(id(i), "big", false)
		ids = append(ids, id(i))
	}
	d := delivery{frame: EncodeMessage(ToRoom("big"), "x", 1, 0, []byte("1")), seq: 1}
	s := &h.rooms["big"].stream
	if a := testing.AllocsPerRun(100, func() { h.sendChunk(s, d, ids) }); a != 0 {
		t.Fatalf("%.1f allocations per chunk of %d targets, want 0", a, len(ids))
	}
	// Whole publishes: the same allocations for 20 and for 2,000 targets.
	for i := 20; i < 2000; i++ {
		_ = h.Leave(id(i), "big")
	}
	_, _ = h.Join(id(0), "small", false)
	pub := func(room string) func() {
		return func() { _, _, _ = h.PublishWait(ToRoom(room), "x", []byte("1")) }
	}
	for i := 20; i < 2000; i++ {
		_, _ = h.Join(id(i), "big2", false)
	}
	pub("small")()
	pub("big2")()
	small := testing.AllocsPerRun(50, pub("small"))
	big := testing.AllocsPerRun(50, pub("big2"))
	t.Logf("allocations per publish: %.1f to 1 target, %.1f to 1,980 targets", small, big)
	if big > small {
		t.Fatalf("a publish to 1,980 targets allocates %.1f, to 1 target %.1f: allocations grow with the audience", big, small)
	}
}
