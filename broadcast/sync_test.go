package broadcast

import (
	"context"
	"fmt"
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

// summary writes c's frames as "seq" for a message and "gap a-b/n" for a
// gap notice, in order, so a test can compare the whole stream at once.
func summary(t *testing.T, f *fakeSender, c ConnID) []string {
	t.Helper()
	var out []string
	for _, m := range f.messages(t, c) {
		switch m["type"] {
		case "message":
			out = append(out, fmt.Sprint(m["seq"]))
		case "gap":
			out = append(out, fmt.Sprintf("gap %v-%v/%v", m["from_seq"], m["to_seq"], m["missed"]))
		default:
			out = append(out, fmt.Sprint(m["type"]))
		}
	}
	return out
}

// liveRoom is a hub whose room "r" has a member a that saw seqs 1..n.
func liveRoom(t *testing.T, cfg Config, n int) (*Hub, *fakeSender) {
	t.Helper()
	h, f := newTestHub(t, cfg)
	if err := h.Register(id(1), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Join(id(1), "r", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	return h, f
}

// joinFrom registers c and joins it to "r" with JoinFrom.
func joinFrom(t *testing.T, h *Hub, c ConnID) {
	t.Helper()
	if err := h.Register(c, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.JoinFrom(c, "r", false); err != nil {
		t.Fatal(err)
	}
}

// TestEndSyncLive: without a history, a catching-up connection is told
// the numbers after its since that went out before it joined, then gets
// what was published after its join, held or live, each exactly once.
func TestEndSyncLive(t *testing.T) {
	cases := []struct {
		name  string
		sync  int      // Config.MaxSyncFrames (0: the default)
		seen  int      // messages published before b joins
		since uint64   // b's since
		held  int      // published between the join and EndSyncLive
		want  []string // b's frames after one more live message
	}{
		{"up to date", 0, 5, 5, 0, []string{"6"}},
		// The race a join meets: a message published after the join
		// and before its end is delivered, not announced missed.
		{"up to date, one held", 0, 5, 5, 1, []string{"6", "7"}},
		{"missed some", 0, 5, 2, 0, []string{"gap 3-5/3", "6"}},
		{"missed some, two held", 0, 5, 2, 2, []string{"gap 3-5/3", "6", "7", "8"}},
		{"re-created room", 0, 3, 10, 1, []string{"gap 1-3/3", "4", "5"}},
		{"fresh room", 0, 0, 10, 1, []string{"1", "2"}},
		// Past the hold buffer: the held one, then the buffer's own gap.
		{"held past the buffer", 1, 5, 5, 3, []string{"6", "gap 7-8/2", "9"}},
		{"missed some, held past the buffer", 1, 5, 2, 3, []string{"gap 3-5/3", "6", "gap 7-8/2", "9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, f := liveRoom(t, Config{MaxSyncFrames: tc.sync}, tc.seen)
			b := id(2)
			joinFrom(t, h, b)
			for i := 0; i < tc.held; i++ {
				if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
					t.Fatal(err)
				}
			}
			if got := summary(t, f, b); len(got) != 0 {
				t.Fatalf("b got %v before the end of its catch-up, want nothing", got)
			}
			h.EndSyncLive(b, ToRoom("r"), tc.since)
			if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
			if got := summary(t, f, b); !slices.Equal(got, tc.want) {
				t.Fatalf("b got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEndSyncLiveBehindQueued: messages published (not yet fanned out)
// around the end of a catch-up reach the connection each exactly once and
// in order, and none is announced missed, however the drain interleaves.
// With the end decided from the stream's count at the moment it is
// called, a message numbered but not yet fanned out was announced missed
// and then delivered.
func TestEndSyncLiveBehindQueued(t *testing.T) {
	for round := 0; round < 50; round++ {
		h, f := liveRoom(t, Config{}, 5)
		b := id(2)
		joinFrom(t, h, b)
		for i := 0; i < 3; i++ {
			if _, err := h.Publish(ToRoom("r"), "x", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
		}
		h.EndSyncLive(b, ToRoom("r"), 5)
		for i := 0; i < 3; i++ {
			if _, err := h.Publish(ToRoom("r"), "x", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Quiesce(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{"6", "7", "8", "9", "10", "11"}
		if got := summary(t, f, b); !slices.Equal(got, want) {
			t.Fatalf("round %d: b got %v, want %v", round, got, want)
		}
		h.Close()
	}
}

// TestEndSyncLiveLate: an end that reaches the drain after its catch-up
// was replaced (the connection left and joined again, with another since)
// ends nothing; the later catch-up's own end does.
func TestEndSyncLiveLate(t *testing.T) {
	h, f := liveRoom(t, Config{}, 5)
	b := id(2)
	joinFrom(t, h, b)
	s, m := h.streamOf(ToRoom("r")), h.lookup(b)
	m.mu.Lock()
	first := m.sync[s]
	m.mu.Unlock()
	if err := h.Leave(b, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.JoinFrom(b, "r", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	// The first catch-up's end, as the drain would run it now.
	h.endSyncLive(s, &syncEnd{c: b, buf: first, since: 2})
	if got := summary(t, f, b); len(got) != 0 {
		t.Fatalf("a late end sent b %v, want nothing", got)
	}
	h.EndSyncLive(b, ToRoom("r"), 5)
	if _, _, err := h.PublishWait(ToRoom("r"), "x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(t, f, b), []string{"6", "7"}; !slices.Equal(got, want) {
		t.Fatalf("b got %v, want %v", got, want)
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
