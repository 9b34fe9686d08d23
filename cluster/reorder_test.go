package cluster

import (
	"slices"
	"testing"
	"time"

	"c1m/broadcast"
)

// reorderRig is a Cluster with only what the dispatcher's ordering
// needs: one subscribed target and a recorder for what it delivers.
type reorderRig struct {
	c   *Cluster
	in  *interest
	got []uint64
}

func newReorderRig(t *testing.T, wait time.Duration, maxHeld int) *reorderRig {
	t.Helper()
	r := &reorderRig{}
	r.c = &Cluster{cfg: Config{ReorderWait: wait, MaxReorder: maxHeld}}
	r.c.interests.init(Config{DeliveryQueue: 1, MaxInterest: 8})
	r.c.deliver = func(m Message) { r.got = append(r.got, m.Seq) }
	r.in = &interest{subject: "c1m.l.r.x", target: broadcast.ToRoom("x")}
	r.c.bySubject[r.in.subject] = r.in
	return r
}

// stats reads the counters Stats reports (the rig has no presence).
func (r *reorderRig) stats() Stats {
	return Stats{Holes: r.c.st.holes.Load(), Reordered: r.c.st.reordered.Load(), Late: r.c.st.late.Load()}
}

func (r *reorderRig) feed(now time.Time, seqPrev ...uint64) {
	for i := 0; i < len(seqPrev); i += 2 {
		r.c.accept(r.in, Message{Target: r.in.target, Seq: seqPrev[i], Prev: seqPrev[i+1]}, now)
	}
}

// TestReorderSwapped: two messages republished in the opposite order to
// their numbers reach the reader in order, with no hole.
func TestReorderSwapped(t *testing.T) {
	r := newReorderRig(t, time.Second, 16)
	t0 := time.Unix(1000, 0)
	r.feed(t0, 26, 0, 28, 27)
	if !slices.Equal(r.got, []uint64{26}) {
		t.Fatalf("delivered %v before 27 came; want [26] (28 waits)", r.got)
	}
	r.feed(t0, 27, 26, 29, 28)
	if want := []uint64{26, 27, 28, 29}; !slices.Equal(r.got, want) {
		t.Fatalf("delivered %v, want %v", r.got, want)
	}
	st := r.stats()
	if st.Holes != 0 || st.Reordered != 1 || st.Late != 0 || len(r.c.waiting) != 0 {
		t.Fatalf("holes %d reordered %d late %d waiting %d; want 0 1 0 0", st.Holes, st.Reordered, st.Late, len(r.c.waiting))
	}
}

// TestReorderGiveUp: a message that never comes holds the ones after
// it only for ReorderWait; they then go out as a hole, and the missing
// one, if it comes after all, is dropped rather than delivered out of
// order.
func TestReorderGiveUp(t *testing.T) {
	r := newReorderRig(t, 100*time.Millisecond, 16)
	t0 := time.Unix(1000, 0)
	r.feed(t0, 10, 0, 13, 12, 12, 11)
	if !slices.Equal(r.got, []uint64{10}) {
		t.Fatalf("delivered %v while 11 is missing", r.got)
	}
	if next := r.c.expire(t0.Add(40 * time.Millisecond)); next != 60*time.Millisecond || len(r.got) != 1 {
		t.Fatalf("expire before the wait: next %v, delivered %v", next, r.got)
	}
	if next := r.c.expire(t0.Add(100 * time.Millisecond)); next != 0 {
		t.Fatalf("expire after the wait: next %v, want 0 (nothing held)", next)
	}
	if want := []uint64{10, 12, 13}; !slices.Equal(r.got, want) {
		t.Fatalf("delivered %v, want %v", r.got, want)
	}
	r.feed(t0.Add(time.Second), 11, 10, 14, 13)
	if want := []uint64{10, 12, 13, 14}; !slices.Equal(r.got, want) {
		t.Fatalf("delivered %v, want %v", r.got, want)
	}
	if st := r.stats(); st.Holes != 1 || st.Late != 1 {
		t.Fatalf("holes %d late %d; want 1 1", st.Holes, st.Late)
	}
}

// TestReorderBounded: at most MaxReorder messages wait; the next one
// gives up the wait at once.
func TestReorderBounded(t *testing.T) {
	r := newReorderRig(t, time.Hour, 3)
	t0 := time.Unix(1000, 0)
	r.feed(t0, 1, 0, 3, 2, 4, 3, 5, 4)
	if len(r.got) != 1 || len(r.in.re.held) != 3 {
		t.Fatalf("delivered %v held %d; want [1] and 3 held", r.got, len(r.in.re.held))
	}
	r.feed(t0, 6, 5)
	if want := []uint64{1, 3, 4, 5, 6}; !slices.Equal(r.got, want) || len(r.in.re.held) != 0 || len(r.c.waiting) != 0 {
		t.Fatalf("delivered %v held %d waiting %d; want %v and nothing held", r.got, len(r.in.re.held), len(r.c.waiting), want)
	}
}

// TestReorderStreamReset: after NATS lost a memory stream the numbers
// start over; once the node has reconnected, the new messages are
// delivered, not taken for duplicates.
func TestReorderStreamReset(t *testing.T) {
	r := newReorderRig(t, time.Hour, 16)
	t0 := time.Unix(1000, 0)
	r.feed(t0, 500, 0, 502, 501)
	r.c.st.reconnects.Add(1)
	r.feed(t0, 1, 0, 2, 1, 2, 1)
	if want := []uint64{500, 502, 1, 2}; !slices.Equal(r.got, want) {
		t.Fatalf("delivered %v, want %v (held 502 flushed by the reset, then the new numbering, duplicate dropped)", r.got, want)
	}
	if st := r.stats(); st.Late != 1 || len(r.c.waiting) != 0 {
		t.Fatalf("late %d waiting %d; want 1 0", st.Late, len(r.c.waiting))
	}
	// A new stream may number a room's first message as the old one
	// numbered its last.
	r = newReorderRig(t, time.Hour, 16)
	r.feed(t0, 1, 0)
	r.c.st.reconnects.Add(1)
	r.feed(t0, 1, 0, 2, 1)
	if want := []uint64{1, 1, 2}; !slices.Equal(r.got, want) {
		t.Fatalf("delivered %v, want %v", r.got, want)
	}
}

// TestReorderFirst: the first message since the subscription waits for
// its predecessor, which may come after it (two publishers racing in
// nats-server 2.9) or not at all (it was published before the
// subscription began). Once that wait has run out, the predecessor is
// late, not a new numbering: nothing is delivered twice or out of order.
func TestReorderFirst(t *testing.T) {
	r := newReorderRig(t, 100*time.Millisecond, 16)
	t0 := time.Unix(1000, 0)
	r.feed(t0, 2, 1, 3, 2, 4, 3, 1, 0, 5, 4)
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(r.got, want) {
		t.Fatalf("predecessor came after: delivered %v, want %v", r.got, want)
	}
	r = newReorderRig(t, 100*time.Millisecond, 16)
	r.feed(t0, 2, 1, 3, 2)
	if len(r.got) != 0 {
		t.Fatalf("delivered %v while the first message waits", r.got)
	}
	r.c.expire(t0.Add(100 * time.Millisecond))
	r.feed(t0, 1, 0, 4, 3)
	if want := []uint64{2, 3, 4}; !slices.Equal(r.got, want) {
		t.Fatalf("predecessor never came in time: delivered %v, want %v", r.got, want)
	}
	if st := r.stats(); st.Late != 1 || st.Holes != 0 {
		t.Fatalf("late %d holes %d; want 1 0", st.Late, st.Holes)
	}
}

// TestReorderReleasedTarget: held messages of a target the node no
// longer subscribes to are forgotten, not delivered.
func TestReorderReleasedTarget(t *testing.T) {
	r := newReorderRig(t, 10*time.Millisecond, 16)
	t0 := time.Unix(1000, 0)
	r.feed(t0, 1, 0, 3, 2)
	delete(r.c.bySubject, r.in.subject)
	if next := r.c.expire(t0.Add(time.Second)); next != 0 || len(r.got) != 1 || len(r.c.waiting) != 0 || r.in.re.held != nil {
		t.Fatalf("next %v delivered %v waiting %d; want the held message forgotten", next, r.got, len(r.c.waiting))
	}
}
