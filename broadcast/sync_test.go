package broadcast

import (
	"context"
	"slices"
	"sync"
	"testing"
)

func seqsOf(t *testing.T, f *fakeSender, c ConnID) []float64 {
	t.Helper()
	var out []float64
	for _, m := range f.messages(t, c) {
		if m["type"] == "message" {
			out = append(out, m["seq"].(float64))
		}
	}
	return out
}

// TestCatchUp: a connection joining with JoinFrom gets no live message
// until EndSync, which sends those after the history's last one, in order;
// then the stream reaches it directly.
func TestCatchUp(t *testing.T) {
	h, f := newTestHub(t, Config{})
	a, b := id(1), id(2)
	for _, c := range []ConnID{a, b} {
		if err := h.Register(c, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Join(a, "r", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.JoinFrom(b, "r", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqsOf(t, f, b); len(got) != 0 {
		t.Fatalf("the catching-up connection got %v before EndSync, want nothing", got)
	}
	// The caller's history went up to seq 2: only 3 follows.
	if n := h.EndSync(b, ToRoom("r"), 2); n != 1 {
		t.Fatalf("EndSync sent %d held messages, want 1", n)
	}
	if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(t, f, b); !slices.Equal(got, []float64{3, 4}) {
		t.Fatalf("the caught-up connection got seqs %v, want [3 4]", got)
	}
	if got := seqsOf(t, f, a); !slices.Equal(got, []float64{1, 2, 3, 4}) {
		t.Fatalf("the other member got %v, want [1 2 3 4]", got)
	}
	if n := h.EndSync(b, ToRoom("r"), 0); n != 0 {
		t.Fatalf("a second EndSync sent %d", n)
	}
}

// TestCatchUpOverflow: past MaxSyncFrames held back, the rest is announced
// by one gap notice after the held messages.
func TestCatchUpOverflow(t *testing.T) {
	h, f := newTestHub(t, Config{MaxSyncFrames: 2})
	c := id(3)
	if err := h.Register(c, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.JoinFrom(c, "r", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	h.EndSync(c, ToRoom("r"), 0)
	ms := f.messages(t, c)
	if len(ms) != 3 || ms[0]["seq"] != 1.0 || ms[1]["seq"] != 2.0 || ms[2]["type"] != "gap" ||
		ms[2]["from_seq"] != 3.0 || ms[2]["to_seq"] != 5.0 || ms[2]["missed"] != 3.0 {
		t.Fatalf("got %v, want seqs 1, 2 and a gap 3..5 (3 missed)", ms)
	}
}

// TestDeliverKeepsTheGivenNumbers: a message numbered elsewhere keeps its
// seq and carries prev; a local one carries neither seq nor prev.
func TestDeliverKeepsTheGivenNumbers(t *testing.T) {
	h, f := newTestHub(t, Config{})
	c := id(4)
	if err := h.Register(c, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Join(c, "r", false); err != nil {
		t.Fatal(err)
	}
	if err := h.Deliver(ToRoom("r"), "x", 1042, 1017, 5, []byte(`"a"`)); err != nil {
		t.Fatal(err)
	}
	if err := h.PublishLocal(ToRoom("r"), "y", []byte(`"b"`)); err != nil {
		t.Fatal(err)
	}
	if err := h.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := f.messages(t, c)
	if len(ms) != 2 || ms[0]["seq"] != 1042.0 || ms[0]["prev"] != 1017.0 || ms[1]["local"] != true || ms[1]["seq"] != nil {
		t.Fatalf("got %v, want seq 1042 prev 1017, then a local message without seq", ms)
	}
	if got := h.StreamSeq(ToRoom("r")); got != 1042 {
		t.Fatalf("StreamSeq %d, want 1042", got)
	}
}

// TestOnMembers: the hook sees each target's local count after every
// change, in order, down to 0 when the target leaves the node.
func TestOnMembers(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h, _ := newTestHub(t, Config{OnMembers: func(tg Target, before, n int) {
		mu.Lock()
		got = append(got, tg.Name+"="+string(rune('0'+before))+">"+string(rune('0'+n)))
		mu.Unlock()
	}})
	a, b := id(5), id(6)
	_ = h.Register(a, "u")
	_ = h.Register(b, "u")
	_, _ = h.Join(a, "r", false)
	_, _ = h.Join(b, "r", false)
	_ = h.Leave(a, "r")
	h.Unregister(b)
	h.Unregister(a)
	want := []string{"u=0>1", "u=1>2", "r=0>1", "r=1>2", "r=2>1", "r=1>0", "u=2>1", "u=1>0"}
	if !slices.Equal(got, want) {
		t.Fatalf("OnMembers calls %v, want %v", got, want)
	}
}
