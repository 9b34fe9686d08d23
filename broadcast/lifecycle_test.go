package broadcast

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGapsDoNotPinLeftRooms: under PolicyDrop a member that missed a
// message of a room and then left it keeps no gap for that room: 1,000
// join/miss/leave cycles on 1,000 rooms (each deleted when emptied) leave
// the member's gap table empty.
func TestGapsDoNotPinLeftRooms(t *testing.T) {
	h, f := newTestHub(t, Config{Policy: PolicyDrop})
	c := id(5)
	if err := h.Register(c, "u"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.slow[c] = true
	f.mu.Unlock()
	for i := 0; i < 1000; i++ {
		room := fmt.Sprintf("r-%d", i)
		if _, err := h.Join(c, room, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.PublishWait(ToRoom(room), "x", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
		if err := h.Leave(c, room); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Stats().Dropped; got != 1000 {
		t.Fatalf("dropped %d deliveries, want 1000 (one miss per cycle)", got)
	}
	m := h.lookup(c)
	m.mu.Lock()
	n := len(m.gaps)
	m.mu.Unlock()
	if n != 0 || m.flags.has(flagGapOn) {
		t.Fatalf("after 1,000 join/miss/leave cycles the member keeps %d gaps (gapOn %v), want none", n, m.flags.has(flagGapOn))
	}
	if rooms := h.Stats().Rooms; rooms != 0 {
		t.Fatalf("%d rooms left, want 0", rooms)
	}
}

// holdingSender holds every Send to one connection until released, so a
// test can keep a stream's fan-out in progress while it changes the rooms.
type holdingSender struct {
	*fakeSender
	hold    ConnID
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *holdingSender) Send(c ConnID, frame []byte) error {
	if c == b.hold {
		b.once.Do(func() { close(b.entered) })
		<-b.release
	}
	return b.fakeSender.Send(c, frame)
}

// TestRecreatedRoomGetsNoOldMessages: messages still queued for a room when
// it empties do not reach the room re-created under the same name; the new
// room starts at seq 1 and its member gets only its own messages.
func TestRecreatedRoomGetsNoOldMessages(t *testing.T) {
	bs := &holdingSender{fakeSender: newFakeSender(), hold: id(1), entered: make(chan struct{}), release: make(chan struct{})}
	h, err := New(Config{MaxFDs: 64}, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a, b := id(1), id(2)
	for _, c := range []ConnID{a, b} {
		if err := h.Register(c, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Join(a, "r", false); err != nil {
		t.Fatal(err)
	}
	// Message 1's fan-out blocks on a; 2..10 wait in the stream's queue.
	for i := 1; i <= 10; i++ {
		if _, err := h.Publish(ToRoom("r"), "x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			<-bs.entered
		}
	}
	// a leaves: "r" is emptied and deleted; b re-creates it.
	if err := h.Leave(a, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Join(b, "r", false); err != nil {
		t.Fatal(err)
	}
	close(bs.release)
	seq, n, err := h.PublishWait(ToRoom("r"), "y", []byte(`"new"`))
	if err != nil || seq != 1 || n != 1 {
		t.Fatalf("publish to the re-created room: seq %d, %d targets, %v; want seq 1, 1 target", seq, n, err)
	}
	// Wait for the old stream's queue to drain too, then look.
	if err := h.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := bs.messages(t, b)
	if len(got) != 1 || got[0]["from"] != "y" || got[0]["seq"] != 1.0 {
		t.Fatalf("the re-created room's member got %v, want only its own message (seq 1 from y)", got)
	}
	if old := bs.messages(t, a); len(old) != 1 {
		t.Fatalf("the old member got %d messages, want just the one in flight when it left", len(old))
	}
}

// TestQuiesce: Quiesce refuses new publishes at once and returns when the
// messages accepted before are fanned out; with nothing to wait for it
// returns at once, and a context that ends first is reported.
func TestQuiesce(t *testing.T) {
	bs := &holdingSender{fakeSender: newFakeSender(), hold: id(1), entered: make(chan struct{}), release: make(chan struct{})}
	h, err := New(Config{MaxFDs: 64}, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Register(id(1), ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := h.Publish(ToAll(), "x", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	<-bs.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = h.Quiesce(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Quiesce with a fan-out held: %v, want the deadline", err)
	}
	if _, err := h.Publish(ToAll(), "x", []byte(`1`)); !errors.Is(err, ErrDraining) {
		t.Fatalf("Publish while quiescing: %v, want ErrDraining", err)
	}
	close(bs.release)
	if err := h.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(bs.messages(t, id(1))); got != 5 {
		t.Fatalf("%d of the 5 accepted messages delivered after Quiesce, want all", got)
	}
}

// TestOnBroadcastLatency: the hook sees, for each message, a latency from
// publish that covers the time it waited behind the message before it.
func TestOnBroadcastLatency(t *testing.T) {
	bs := &holdingSender{fakeSender: newFakeSender(), hold: id(1), entered: make(chan struct{}), release: make(chan struct{})}
	var mu sync.Mutex
	var lat, fan []time.Duration
	h, err := New(Config{MaxFDs: 64, OnBroadcast: func(l, f time.Duration, n int) {
		mu.Lock()
		lat, fan = append(lat, l), append(fan, f)
		mu.Unlock()
	}}, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Register(id(1), ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := h.Publish(ToAll(), "x", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	<-bs.entered
	time.Sleep(20 * time.Millisecond) // message 1's fan-out is held this long
	close(bs.release)
	if err := h.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) != 2 {
		t.Fatalf("%d hook calls, want 2", len(lat))
	}
	// Message 2 waited behind message 1: its latency covers the hold,
	// its own fan-out does not.
	if lat[1] < 20*time.Millisecond || fan[1] >= lat[1] {
		t.Fatalf("message 2: latency %v, fan-out %v; want latency ≥ 20ms (it queued behind message 1) and above its fan-out", lat[1], fan[1])
	}
}
