//go:build linux

package conformance

import "fmt"

// fragmentCases is Autobahn category 5. RFC 6455 §5.4: a fragmented
// message is "a single frame with the FIN bit clear and an opcode other
// than 0, followed by zero or more frames with the FIN bit clear and the
// opcode set to 0, and terminated by a single frame with the FIN bit set
// and an opcode of 0"; "Control frames (see Section 5.5) MAY be injected
// in the middle of a fragmented message. Control frames themselves MUST NOT
// be fragmented."; "The fragments of one message MUST NOT be interleaved
// between the fragments of another message unless an extension has been
// negotiated".
func fragmentCases() []*wsCase {
	f0 := func(op byte, s string) frame { return frag(false, op, []byte(s)) }
	f1 := func(op byte, s string) frame { return frag(true, op, []byte(s)) }
	cs := []*wsCase{
		{id: "5.1", rfc: "§5.5", desc: "ping in 2 fragments: fail 1002",
			parts: []part{send(f0(opPing, "frag"), f1(opCont, "ment"))}, codes: codesOf(1002)},
		{id: "5.2", rfc: "§5.5", desc: "pong in 2 fragments: fail 1002",
			parts: []part{send(f0(opPong, "frag"), f1(opCont, "ment"))}, codes: codesOf(1002)},
		{id: "5.3", rfc: "§5.4", desc: "text in 2 fragments: echo",
			parts: []part{send(f0(opText, "frag"), f1(opCont, "ment"))}, echo: []event{echoText("fragment")}, open: true},
		{id: "5.4", rfc: "§5.4", desc: "text in 2 fragments, written byte by byte: echo",
			parts: []part{chopped(1, f0(opText, "frag"), f1(opCont, "ment"))}, echo: []event{echoText("fragment")}, open: true},
		{id: "5.5", rfc: "§5.4", desc: "text in 2 fragments, one write per fragment: echo",
			parts: []part{send(f0(opText, "frag")), send(f1(opCont, "ment"))}, echo: []event{echoText("fragment")}, open: true},
		{id: "5.6", rfc: "§5.4", desc: "text in 2 fragments with a ping between: pong, then echo",
			parts: []part{send(f0(opText, "frag"), ping("ping"), f1(opCont, "ment"))},
			echo:  []event{echoPong("ping"), echoText("fragment")}, open: true},
		{id: "5.7", rfc: "§5.4", desc: "as 5.6, written byte by byte",
			parts: []part{chopped(1, f0(opText, "frag"), ping("ping"), f1(opCont, "ment"))},
			echo:  []event{echoPong("ping"), echoText("fragment")}, open: true},
		{id: "5.8", rfc: "§5.4", desc: "text in 2 fragments with an unsolicited pong between: echo",
			parts: []part{send(f0(opText, "frag"), pong("pong"), f1(opCont, "ment"))},
			echo:  []event{echoText("fragment")}, open: true},
		{id: "5.9", rfc: "§5.4", desc: "continuation (FIN) with no message, then text: fail 1002",
			parts: []part{send(f1(opCont, "non-continuation payload"), text("Hello"))}, codes: codesOf(1002)},
		{id: "5.10", rfc: "§5.4", desc: "as 5.9, written byte by byte",
			parts: []part{chopped(1, f1(opCont, "non-continuation payload"), text("Hello"))}, codes: codesOf(1002)},
		{id: "5.12", rfc: "§5.4", desc: "continuation (no FIN) with no message, then text: fail 1002",
			parts: []part{send(f0(opCont, "non-continuation payload"), text("Hello"))}, codes: codesOf(1002)},
		{id: "5.13", rfc: "§5.4", desc: "as 5.12, written byte by byte",
			parts: []part{chopped(1, f0(opCont, "non-continuation payload"), text("Hello"))}, codes: codesOf(1002)},
		{id: "5.15", rfc: "§5.4", desc: "text in 2 fragments, then a continuation and a final continuation: echo, fail 1002",
			parts: []part{send(f0(opText, "fragment1"), f1(opCont, "fragment2"), f0(opCont, "fragment3"), f1(opCont, "fragment4"))},
			echo:  []event{echoText("fragment1fragment2")}, codes: codesOf(1002)},
		{id: "5.16", rfc: "§5.4", desc: "continuation, text (no FIN), continuation (FIN): fail 1002 at the first",
			parts: []part{send(f0(opCont, "fragment1"), f0(opText, "fragment2"), f1(opCont, "fragment3"))}, codes: codesOf(1002)},
		{id: "5.17", rfc: "§5.4", desc: "continuation (FIN), text (no FIN), continuation (FIN): fail 1002 at the first",
			parts: []part{send(f1(opCont, "fragment1"), f0(opText, "fragment2"), f1(opCont, "fragment3"))}, codes: codesOf(1002)},
		{id: "5.18", rfc: "§5.4", desc: "text (no FIN), then a text (FIN) before the first is finished: fail 1002",
			parts: []part{send(f0(opText, "fragment1"), f1(opText, "fragment2"))}, codes: codesOf(1002)},
		{id: "5.18.2", rfc: "§5.4", desc: "text (no FIN), then a binary (no FIN): fail 1002",
			parts: []part{send(f0(opText, "fragment1"), f0(opBinary, "fragment2"))}, codes: codesOf(1002)},
		{id: "5.18.3", rfc: "§5.4", desc: "binary (no FIN), continuation, then a text (FIN): fail 1002",
			parts: []part{send(f0(opBinary, "a"), f0(opCont, "b"), f1(opText, "c"))}, codes: codesOf(1002)},
		{id: "5.18.4", rfc: "§5.5", desc: "close in 2 fragments: fail 1002",
			parts: []part{send(frag(false, opClose, []byte{0x03}), frag(true, opCont, []byte{0xe8}))}, codes: codesOf(1002)},
	}

	// 5.19, 5.20: 5 fragments with pings between, whole and byte by byte.
	var fs []frame
	var want []event
	for i := 1; i <= 5; i++ {
		op := opCont
		if i == 1 {
			op = opText
		}
		fs = append(fs, frag(i == 5, op, []byte(fmt.Sprintf("fragment%d", i))))
		if i < 5 {
			fs = append(fs, ping(fmt.Sprintf("pongme %d!", i)))
			want = append(want, echoPong(fmt.Sprintf("pongme %d!", i)))
		}
	}
	want = append(want, echoText("fragment1fragment2fragment3fragment4fragment5"))
	cs = append(cs,
		&wsCase{id: "5.19", rfc: "§5.4", desc: "text in 5 fragments with 4 pings between: pongs (at least the last, §5.5.3), then echo",
			parts: []part{send(fs...)}, echo: want, open: true},
		&wsCase{id: "5.20", rfc: "§5.4", desc: "as 5.19, written byte by byte",
			parts: []part{chopped(1, fs...)}, echo: want, open: true},
	)

	// 5.21: every ordering of empty and non-empty fragments, text and
	// binary. RFC 6455 §5.4 puts no lower bound on a fragment's size.
	orders := []struct {
		name  string
		parts []string
	}{
		{"empty first fragment", []string{"", "abc", "def"}},
		{"empty middle fragment", []string{"abc", "", "def"}},
		{"empty last fragment", []string{"abc", "def", ""}},
		{"all fragments empty", []string{"", "", ""}},
		{"one byte per fragment", []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{"two fragments, second empty", []string{"abcdef", ""}},
	}
	n := 0
	for _, op := range []byte{opText, opBinary} {
		for _, o := range orders {
			n++
			var fs []frame
			var all []byte
			for i, s := range o.parts {
				fop := opCont
				if i == 0 {
					fop = op
				}
				fs = append(fs, frag(i == len(o.parts)-1, fop, []byte(s)))
				all = append(all, s...)
			}
			e := event{kind: op, payload: all}
			cs = append(cs, &wsCase{id: fmt.Sprintf("5.21.%d", n), rfc: "§5.4",
				desc:  fmt.Sprintf("%s in %d fragments, %s: echo", opName(op), len(o.parts), o.name),
				parts: []part{send(fs...)}, echo: []event{e}, open: true})
		}
	}
	// 5.22: a message, then a fragmented one with every control frame
	// kind between: pings answered, pong ignored; then another message.
	cs = append(cs, &wsCase{id: "5.22", rfc: "§5.4, §5.5", desc: "binary, then text in 3 fragments with ping and pong between, then binary: all in order",
		parts: []part{send(binary_([]byte{1, 2}), f0(opText, "x"), pong("p"), f0(opCont, "y"), ping("q"), f1(opCont, "z"), binary_([]byte{3}))},
		echo:  []event{echoBinary([]byte{1, 2}), echoPong("q"), echoText("xyz"), echoBinary([]byte{3})}, open: true})
	return cs
}

func opName(op byte) string {
	if op == opText {
		return "text"
	}
	return "binary"
}
