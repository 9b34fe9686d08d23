package server

import (
	"slices"
	"testing"
)

// TestWheel schedules entries and checks that each fires exactly when its
// delay has passed, once, in the tick it was due.
func TestWheel(t *testing.T) {
	table := make([]slot, 16)
	w := newWheel(8)
	var fired []int32
	fire := func(fd int32) { fired = append(fired, fd) }
	advance := func(now uint32, want ...int32) {
		t.Helper()
		fired = fired[:0]
		w.advance(table, now, fire)
		slices.Sort(fired)
		if !slices.Equal(fired, want) {
			t.Fatalf("at tick %d fired %v, want %v", now, fired, want)
		}
	}
	w.schedule(table, 1, 1)
	w.schedule(table, 2, 3)
	w.schedule(table, 3, 3)
	w.schedule(table, 4, 100) // clamped to span-1 = 7
	w.schedule(table, 5, 0)   // clamped to 1
	advance(1, 1, 5)
	advance(2)
	advance(3, 2, 3)
	advance(6)
	advance(7, 4)
	advance(20) // nothing left: a long jump fires nothing twice
}

// TestWheelReschedule: scheduling an entry again moves it (it fires once,
// at the new time), and remove takes it out wherever it is in its bucket.
func TestWheelReschedule(t *testing.T) {
	table := make([]slot, 16)
	w := newWheel(8)
	var fired []int32
	fire := func(fd int32) { fired = append(fired, fd) }
	for fd := int32(1); fd <= 4; fd++ {
		w.schedule(table, fd, 2) // one bucket: 4 → 3 → 2 → 1
	}
	w.schedule(table, 1, 5) // the bucket's tail moves
	w.remove(table, 3)      // the middle goes
	w.remove(table, 4)      // the head goes
	w.remove(table, 4)      // twice is harmless
	w.advance(table, 2, fire)
	if !slices.Equal(fired, []int32{2}) {
		t.Fatalf("at tick 2 fired %v, want [2]", fired)
	}
	fired = fired[:0]
	w.advance(table, 5, fire)
	if !slices.Equal(fired, []int32{1}) {
		t.Fatalf("at tick 5 fired %v, want [1]", fired)
	}
	for fd := range table {
		if table[fd].lflags&lflagInWheel != 0 {
			t.Fatalf("fd %d still marked in the wheel", fd)
		}
	}
}

// TestWheelFireReschedules: fire may put the due entry back (a heartbeat
// schedules its next ping), and it fires again one period later.
func TestWheelFireReschedules(t *testing.T) {
	table := make([]slot, 4)
	w := newWheel(8)
	count := 0
	w.schedule(table, 1, 3)
	fire := func(fd int32) {
		count++
		w.schedule(table, fd, 3)
	}
	w.advance(table, 30, fire)
	if count != 10 {
		t.Fatalf("fired %d times in 30 ticks at a period of 3, want 10", count)
	}
}
