//go:build linux

package conformance

import (
	"fmt"
	"strconv"
)

// maxMessage is the --max-message of the conformance server.
const maxMessage = 1 << 20

// limitCases is Autobahn category 9 scaled to the configured maximum:
// messages up to --max-message, whole, fragmented and chopped into pieces
// of 1..N bytes, many at once, and just past the limit. RFC 6455 §10.4:
// "implementations SHOULD impose a limit on frame sizes and the total
// message size after reassembly from multiple frames"; §7.4.1: "1009
// indicates that an endpoint is terminating the connection because it has
// received a message that is too big for it to process."
func limitCases() []*wsCase {
	var cs []*wsCase
	sizes := []int{64 << 10, 256 << 10, maxMessage}
	// 9.1, 9.2: one frame.
	for g, op := range []byte{opText, opBinary} {
		for i, n := range sizes {
			p := payloadFor(op, n)
			cs = append(cs, &wsCase{id: fmt.Sprintf("9.%d.%d", g+1, i+1), rfc: "§5.2, §10.4",
				desc:  fmt.Sprintf("%s message of %s in one frame: echo", opName(op), size(n)),
				parts: []part{send(fr(op, p))}, echo: []event{{kind: op, payload: p}}, open: true})
		}
	}
	// 9.3, 9.4: the largest message in fragments of 64 B .. 1 MiB.
	for g, op := range []byte{opText, opBinary} {
		for i, fs := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, maxMessage} {
			p := payloadFor(op, maxMessage)
			cs = append(cs, &wsCase{id: fmt.Sprintf("9.%d.%d", g+3, i+1), rfc: "§5.4, §10.4",
				desc:  fmt.Sprintf("%s message of %s in fragments of %s: echo", opName(op), size(maxMessage), size(fs)),
				parts: []part{send(fragments(op, p, fs)...)}, echo: []event{{kind: op, payload: p}}, open: true,
				slow: fs < 4<<10})
		}
	}
	// 9.5, 9.6: one frame written in chops of 1 .. 64 KiB bytes.
	for g, op := range []byte{opText, opBinary} {
		for i, ch := range []struct{ n, chop int }{
			{64 << 10, 1}, {maxMessage, 7}, {maxMessage, 64}, {maxMessage, 128}, {maxMessage, 256},
			{maxMessage, 1 << 10}, {maxMessage, 4 << 10}, {maxMessage, 64 << 10},
		} {
			p := payloadFor(op, ch.n)
			cs = append(cs, &wsCase{id: fmt.Sprintf("9.%d.%d", g+5, i+1), rfc: "§5.2, §10.4",
				desc:  fmt.Sprintf("%s message of %s written in chops of %d bytes: echo", opName(op), size(ch.n), ch.chop),
				parts: []part{chopped(ch.chop, fr(op, p))}, echo: []event{{kind: op, payload: p}}, open: true,
				slow: ch.chop < 1<<10})
		}
	}
	// 9.7, 9.8: many small messages in one burst, echoed in order.
	for g, op := range []byte{opText, opBinary} {
		for i, m := range []struct{ count, n int }{{1000, 0}, {1000, 16}, {1000, 64}, {1000, 256}, {1000, 1 << 10}, {100, 16 << 10}} {
			var fs []frame
			var want []event
			for k := 0; k < m.count; k++ {
				p := payloadFor(op, m.n)
				if m.n >= 8 {
					copy(p, strconv.Itoa(k))
				}
				fs = append(fs, fr(op, p))
				want = append(want, event{kind: op, payload: p})
			}
			cs = append(cs, &wsCase{id: fmt.Sprintf("9.%d.%d", g+7, i+1), rfc: "§5.6",
				desc:  fmt.Sprintf("%d %s messages of %s in one burst: echoed in order", m.count, opName(op), size(m.n)),
				parts: []part{send(fs...)}, echo: want, open: true})
		}
	}
	// 9.9: past the limit, 1009 from the frame header alone.
	over := fr(opBinary, binaryPattern(maxMessage+1))
	cs = append(cs,
		&wsCase{id: "9.9.1", rfc: "§7.4.1, §10.4", desc: "binary message of max+1 bytes: fail 1009 from the header, before the payload",
			parts: []part{failing(part{data: over.wire()[:over.headerLen()]}), {data: over.wire()[over.headerLen():]}}, codes: codesOf(1009)},
		&wsCase{id: "9.9.2", rfc: "§7.4.1, §10.4", desc: "text fragments of max-10 and 20 bytes: fail 1009 from the second header",
			parts: []part{send(frag(false, opText, repeat(maxMessage-10))), failing(part{data: frag(true, opCont, repeat(20)).wire()[:6]}), {data: frag(true, opCont, repeat(20)).wire()[6:]}},
			codes: codesOf(1009)},
		&wsCase{id: "9.9.3", rfc: "§7.4.1, §10.4", desc: "many 64 KiB binary fragments growing past max: fail 1009, no echo",
			parts: []part{send(fragments(opBinary, binaryPattern(maxMessage+64<<10), 64<<10)...)}, codes: codesOf(1009)},
		&wsCase{id: "9.9.4", rfc: "§5.2, §10.4", desc: "frame length 2^63 (high bit set): fail 1009 from the header",
			parts: []part{failing(part{data: declaredFrame(1 << 63)})}, codes: codesOf(1009), lax: codesOf(1002)},
		&wsCase{id: "9.9.5", rfc: "§5.2, §10.4", desc: "frame length 2^64-1: fail 1009 from the header",
			parts: []part{failing(part{data: declaredFrame(1<<64 - 1)})}, codes: codesOf(1009), lax: codesOf(1002)},
		&wsCase{id: "9.9.6", rfc: "§5.2, §10.4", desc: "exactly max bytes in fragments, then one more fragment byte: fail 1009",
			parts: []part{send(frag(false, opBinary, binaryPattern(maxMessage/2)), frag(false, opCont, binaryPattern(maxMessage/2)), frag(true, opCont, []byte{1}))},
			codes: codesOf(1009)},
	)
	return cs
}

// declaredFrame is the header of a masked binary frame announcing n bytes
// (64-bit length), with no payload behind it.
func declaredFrame(n uint64) []byte {
	f := fr(opBinary, nil)
	f.declared = &n
	f.lenEnc = len64
	return f.wire()
}

func payloadFor(op byte, n int) []byte {
	if op == opText {
		return repeat(n)
	}
	return binaryPattern(n)
}

func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
