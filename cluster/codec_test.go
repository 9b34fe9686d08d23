package cluster

import (
	"strings"
	"testing"

	"c1m/broadcast"
)

func TestPayload(t *testing.T) {
	f := func(from, data string) {
		t.Helper()
		p := encodePayload(from, []byte(data))
		gf, gd, ok := decodePayload(p)
		if !ok || gf != from || string(gd) != data {
			t.Fatalf("(%q, %q) came back as (%q, %q, %v)", from, data, gf, gd, ok)
		}
	}
	f("alice", `{"text":"hi"}`)
	f("", "")
	f(strings.Repeat("x", MaxFromLen), "{}")
	for _, bad := range []string{"", "\x05ab", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if _, _, ok := decodePayload([]byte(bad)); ok {
			t.Fatalf("decodePayload(%q) accepted", bad)
		}
	}
}

func TestPresenceCodec(t *testing.T) {
	p := &presence{c: &Cluster{node: nodeID{name: "web-1", instance: 42}}, local: map[broadcast.Target]int32{}}
	want := map[broadcast.Target]int32{}
	for i := range 5000 {
		tg := broadcast.ToRoom(strings.Repeat("r", i%100) + string(rune('a'+i%26)) + strings.Repeat("z", i/100))
		if i%2 == 1 {
			tg = broadcast.ToUser(tg.Name)
		}
		want[tg] = int32(i + 1)
		p.local[tg] = int32(i + 1)
	}
	msgs := p.encodeLocked(presSnapshot, func(yield func(broadcast.Target, int32)) {
		for tg, n := range p.local {
			yield(tg, n)
		}
	})
	if len(msgs) < 2 {
		t.Fatalf("a snapshot of %d entries fits one message of %d bytes", len(want), len(msgs[0]))
	}
	got := map[broadcast.Target]int32{}
	for i, b := range msgs {
		if len(b) > presMaxMessage {
			t.Fatalf("message %d has %d bytes", i, len(b))
		}
		m, ok := decodePresence(b)
		if !ok || m.node != "web-1" || m.instance != 42 || m.seq != uint64(i+1) || m.kind != presSnapshot {
			t.Fatalf("message %d: %+v %v", i, m, ok)
		}
		if begin, end := m.flags&snapBegin != 0, m.flags&snapEnd != 0; begin != (i == 0) || end != (i == len(msgs)-1) {
			t.Fatalf("message %d flags %b", i, m.flags)
		}
		if !m.each(func(tg broadcast.Target, n int32) { got[tg] = n }) {
			t.Fatalf("message %d: malformed entries", i)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries came back, want %d", len(got), len(want))
	}
	for tg, n := range want {
		if got[tg] != n {
			t.Fatalf("%+v: %d, want %d", tg, got[tg], n)
		}
	}
	for _, bad := range [][]byte{nil, {9, 'h'}, {presVersion, 'h', 200}, append(msgs[0][:20:20], 'x')} {
		if m, ok := decodePresence(bad); ok && m.each(func(broadcast.Target, int32) {}) {
			t.Fatalf("decodePresence(%q) accepted", bad)
		}
	}
}
