//go:build linux

package conformance

import "fmt"

// pingCases is Autobahn category 2. RFC 6455 §5.5.2: "Upon receipt of a
// Ping frame, an endpoint MUST send a Pong frame in response"; §5.5.3: "A
// Pong frame sent in response to a Ping frame must have identical
// "Application data" as found in the message body of the Ping frame being
// replied to", and "A Pong frame MAY be sent unsolicited. [...] A response
// to an unsolicited Pong frame is not expected."
func pingCases() []*wsCase {
	p125 := binaryPattern(125)
	cs := []*wsCase{
		{id: "2.1", rfc: "§5.5.2", desc: "ping without payload: pong without payload",
			parts: []part{send(ping(""))}, echo: []event{echoPong("")}, open: true},
		{id: "2.2", rfc: "§5.5.2", desc: "ping with a small text payload: same payload in the pong",
			parts: []part{send(ping("Hello, world!"))}, echo: []event{echoPong("Hello, world!")}, open: true},
		{id: "2.3", rfc: "§5.5.2", desc: "ping with a binary payload: same payload in the pong",
			parts: []part{send(fr(opPing, []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}))},
			echo:  []event{echoPongB([]byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff})}, open: true},
		{id: "2.4", rfc: "§5.5", desc: "ping with 125 bytes (the maximum): pong",
			parts: []part{send(fr(opPing, p125))}, echo: []event{echoPongB(p125)}, open: true},
		// RFC 6455 §5.5: "All control frames MUST have a payload length of
		// 125 bytes or less".
		{id: "2.5", rfc: "§5.5", desc: "ping with 126 bytes: fail 1002 from the header",
			parts: []part{failing(part{data: fr(opPing, binaryPattern(126)).wire()[:8]}), {data: fr(opPing, binaryPattern(126)).wire()[8:]}},
			codes: codesOf(1002)},
		{id: "2.6", rfc: "§5.5.2", desc: "ping with 125 bytes written byte by byte: pong",
			parts: []part{chopped(1, fr(opPing, p125))}, echo: []event{echoPongB(p125)}, open: true},
		{id: "2.7", rfc: "§5.5.3", desc: "unsolicited pong without payload: ignored",
			parts: []part{send(pong(""))}, open: true},
		{id: "2.8", rfc: "§5.5.3", desc: "unsolicited pong with payload: ignored",
			parts: []part{send(pong("unsolicited pong payload"))}, open: true},
		{id: "2.9", rfc: "§5.5.3", desc: "unsolicited pong, then ping: one pong for the ping",
			parts: []part{send(pong("unsolicited"), ping("solicited"))}, echo: []event{echoPong("solicited")}, open: true},
		{id: "2.12", rfc: "§5.5.3", desc: "unsolicited 8-byte pong (the size of c1m's heartbeat payload): ignored",
			parts: []part{send(pong("\x7f\xff\xff\xff\xff\xff\xff\xff"))}, open: true},
	}
	var pings []frame
	var pongs []event
	for i := 0; i < 10; i++ {
		s := fmt.Sprintf("payload-%d", i)
		pings = append(pings, ping(s))
		pongs = append(pongs, echoPong(s))
	}
	cs = append(cs,
		// RFC 6455 §5.5.3 allows answering only the most recent of
		// several unanswered pings, and c1m does (a read full of pings
		// costs one pong): the judge wants the pongs it sends in order,
		// the one for the last ping among them.
		&wsCase{id: "2.10", rfc: "§5.5.3", desc: "10 pings in one write: pongs in order, the last ping answered",
			parts: []part{send(pings...)}, echo: pongs, open: true},
		&wsCase{id: "2.11", rfc: "§5.5.3", desc: "10 pings written byte by byte: pongs in order, the last ping answered",
			parts: []part{chopped(1, pings...)}, echo: pongs, open: true},
	)
	return cs
}

// rsvCases is Autobahn category 3. RFC 6455 §5.2: "RSV1, RSV2, RSV3: 1
// bit each. MUST be 0 unless an extension is negotiated that defines
// meanings for non-zero values. If a nonzero value is received and none of
// the negotiated extensions defines the meaning of such a nonzero value,
// the receiving endpoint MUST _Fail the WebSocket Connection_." c1m
// negotiates no extension.
func rsvCases() []*wsCase {
	withRSV := func(f frame, rsv byte) frame { f.rsv = rsv; return f }
	return []*wsCase{
		{id: "3.1", rfc: "§5.2", desc: "text with RSV1: fail 1002",
			parts: []part{send(withRSV(text("Hello"), 4))}, codes: codesOf(1002)},
		{id: "3.2", rfc: "§5.2", desc: "text, text with RSV2, ping: echo, then fail 1002, no pong",
			parts: []part{send(text("Hello"), withRSV(text("Hello"), 2), ping(""))}, echo: []event{echoText("Hello")}, codes: codesOf(1002)},
		{id: "3.3", rfc: "§5.2", desc: "as 3.2 with RSV3, written byte by byte: fail from the header",
			parts: []part{chopped(1, text("Hello")), failing(chopped(1, frame{fin: true, op: opText, rsv: 1, key: defaultKey, payload: []byte("Hello")})), send(ping(""))},
			echo:  []event{echoText("Hello")}, codes: codesOf(1002)},
		{id: "3.4", rfc: "§5.2", desc: "text, text with RSV1+RSV2 chopped, ping: echo, then fail 1002",
			parts: []part{send(text("Hello")), chopped(1, withRSV(text("Hello"), 6)), send(ping(""))}, echo: []event{echoText("Hello")}, codes: codesOf(1002)},
		{id: "3.5", rfc: "§5.2", desc: "binary with RSV1+RSV3: fail 1002",
			parts: []part{send(withRSV(binary_(binaryPattern(8)), 5))}, codes: codesOf(1002)},
		{id: "3.6", rfc: "§5.2", desc: "ping with RSV2+RSV3: fail 1002, no pong",
			parts: []part{send(withRSV(ping("Hello"), 3))}, codes: codesOf(1002)},
		{id: "3.7", rfc: "§5.2", desc: "close with all RSV bits: fail 1002, not a normal close",
			parts: []part{send(withRSV(closeCode(1000, ""), 7))}, codes: codesOf(1002)},
		{id: "3.8", rfc: "§5.2", desc: "continuation with RSV1 inside a fragmented text: fail 1002",
			parts: []part{send(frag(false, opText, []byte("Hel")), withRSV(frag(true, opCont, []byte("lo")), 4))}, codes: codesOf(1002)},
	}
}

// opcodeCases is Autobahn category 4. RFC 6455 §5.2: "%x3-7 are reserved
// for further non-control frames", "%xB-F are reserved for further control
// frames", and "If an unknown opcode is received, the receiving endpoint
// MUST _Fail the WebSocket Connection_."
func opcodeCases() []*wsCase {
	var cs []*wsCase
	for i, op := range []byte{3, 4, 5, 6, 7} {
		cs = append(cs, opcodeCase(fmt.Sprintf("4.1.%d", i+1), op, i))
	}
	for i, op := range []byte{0xB, 0xC, 0xD, 0xE, 0xF} {
		cs = append(cs, opcodeCase(fmt.Sprintf("4.2.%d", i+1), op, i))
	}
	return cs
}

// opcodeCase varies like Autobahn 4.x.1-5: alone without payload, alone
// with payload, and between a text and a ping (the text is echoed, the
// ping is not answered), the last written byte by byte.
func opcodeCase(id string, op byte, variant int) *wsCase {
	c := &wsCase{id: id, rfc: "§5.2", codes: codesOf(1002)}
	bad := fr(op, nil)
	switch variant {
	case 0:
		c.desc = fmt.Sprintf("reserved opcode %#x, no payload: fail 1002", op)
		c.parts = []part{send(bad)}
		return c
	case 1:
		bad.payload = []byte("reserved opcode payload")
		c.desc = fmt.Sprintf("reserved opcode %#x with payload: fail 1002", op)
		c.parts = []part{send(bad)}
		return c
	}
	bad.payload = binaryPattern(variant * 10)
	c.desc = fmt.Sprintf("text, reserved opcode %#x, ping: echo, fail 1002, no pong", op)
	c.echo = []event{echoText("Hello")}
	chop := 0
	if variant == 4 {
		chop = 1
		c.desc += " (byte by byte)"
	}
	c.parts = []part{chopped(chop, text("Hello")), chopped(chop, bad), chopped(chop, ping(""))}
	return c
}
