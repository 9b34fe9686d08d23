//go:build linux

package conformance

import (
	"fmt"
	"strings"
)

// closeCases is Autobahn category 7. RFC 6455 §5.5.1: "If an endpoint
// receives a Close frame and did not previously send a Close frame, the
// endpoint MUST send a Close frame in response. (When sending a Close frame
// in response, the endpoint typically echos the status code it received.)"
// and "After sending a Close frame, the endpoint MUST NOT send any further
// data frames"; the server then closes TCP first (§7.1.1). c1m echoes the
// code it received, 1000 for an empty close (docs/operations.md).
func closeCases() []*wsCase {
	cs := []*wsCase{
		{id: "7.1.1", rfc: "§5.5.1", desc: "text, then close 1000: echo, then close 1000",
			parts: []part{send(text("Hello World!"), closeCode(1000, ""))}, echo: []event{echoText("Hello World!")}, codes: codesOf(1000)},
		{id: "7.1.2", rfc: "§5.5.1", desc: "two close frames: one close back",
			parts: []part{send(closeCode(1000, ""), closeCode(1000, ""))}, codes: codesOf(1000)},
		{id: "7.1.3", rfc: "§5.5.1", desc: "close, then ping: no pong after the close",
			parts: []part{send(closeCode(1000, ""), ping("Hello World!"))}, codes: codesOf(1000)},
		{id: "7.1.4", rfc: "§5.5.1", desc: "close, then text: no echo after the close",
			parts: []part{send(closeCode(1000, ""), text("Hello World!"))}, codes: codesOf(1000)},
		{id: "7.1.5", rfc: "§5.5.1", desc: "text fragment, close, then the last fragment: close 1000, no echo",
			parts: []part{send(frag(false, opText, []byte("fragment1")), closeCode(1000, ""), frag(true, opCont, []byte("fragment2")))}, codes: codesOf(1000)},
		// RFC 6455 §5.5.1: "An endpoint MAY delay sending a Close frame
		// until its current message is sent" — and c1m drops what is still
		// queued (ahead of the close frame): both are allowed.
		{id: "7.1.6", rfc: "§5.5.1", desc: "256 KiB text, close, ping: the echo may or may not come; close 1000, no pong",
			parts: []part{send(fr(opText, repeat(256<<10)), closeCode(1000, ""), ping("Hello World!"))}, anyEcho: true, codes: codesOf(1000)},
		{id: "7.1.7", rfc: "§5.5.1", desc: "close written byte by byte: close 1000",
			parts: []part{chopped(1, closeCode(1000, "bye"))}, codes: codesOf(1000)},

		{id: "7.3.1", rfc: "§5.5.1, §7.1.5", desc: "close without payload: close 1000",
			parts: []part{send(closeFrame(nil))}, codes: codesOf(1000)},
		{id: "7.3.2", rfc: "§5.5.1", desc: "close with a 1-byte payload: fail 1002",
			parts: []part{send(closeFrame([]byte{0x03}))}, codes: codesOf(1002)},
		{id: "7.3.3", rfc: "§5.5.1", desc: "close 1000 without reason: close 1000",
			parts: []part{send(closeCode(1000, ""))}, codes: codesOf(1000)},
		{id: "7.3.4", rfc: "§5.5.1", desc: "close 1000 with a reason: close 1000",
			parts: []part{send(closeCode(1000, "Hello World!"))}, codes: codesOf(1000)},
		{id: "7.3.5", rfc: "§5.5", desc: "close 1000 with a 123-byte reason (payload 125): close 1000",
			parts: []part{send(closeCode(1000, strings.Repeat("*", 123)))}, codes: codesOf(1000)},
		{id: "7.3.6", rfc: "§5.5", desc: "close 1000 with a 124-byte reason (payload 126): fail 1002",
			parts: []part{send(closeCode(1000, strings.Repeat("*", 124)))}, codes: codesOf(1002)},
		{id: "7.3.7", rfc: "§5.5.1", desc: "close 1000 with a multi-byte UTF-8 reason: close 1000",
			parts: []part{send(closeCode(1000, "κόσμε €𐍈"))}, codes: codesOf(1000)},

		// RFC 6455 §5.5.1: the reason is "UTF-8-encoded data"; §8.1: not
		// UTF-8 → _Fail the WebSocket Connection_ (1007; 1002 tolerated).
		{id: "7.5.1", rfc: "§5.5.1, §8.1", desc: "close 1000 with an invalid UTF-8 reason: fail 1007",
			parts: []part{send(closeCode(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"))}, codes: codesOf(1007), lax: codesOf(1002)},
		{id: "7.5.2", rfc: "§5.5.1, §8.1", desc: "close 1000 with a reason cut inside a code point: fail 1007",
			parts: []part{send(closeCode(1000, "ab\xe2\x82"))}, codes: codesOf(1007), lax: codesOf(1002)},
	}
	// 7.7: valid codes are echoed. RFC 6455 §7.4.1 defines 1000-1003 and
	// 1007-1011, §11.7 the IANA registry (1012-1014), §7.4.2: "3000-3999
	// [...] used by libraries, frameworks, and applications", "4000-4999
	// [...] reserved for private use".
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cs = append(cs, &wsCase{id: fmt.Sprintf("7.7.%d", i+1), rfc: "§7.4.1, §7.4.2",
			desc:  fmt.Sprintf("close with valid code %d: the code echoed", code),
			parts: []part{send(closeCode(code, "Hello"))}, codes: codesOf(code), lax: codesOf(1000)})
	}
	// 7.9: invalid codes. §7.4.1: 1004 is reserved; 1005, 1006 and 1015
	// "MUST NOT be set as a status code in a Close control frame by an
	// endpoint"; §7.4.2: "Status codes in the range 0-999 are not used";
	// 1016-2999 are reserved for this protocol and not defined; nothing is
	// defined past 4999.
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cs = append(cs, &wsCase{id: fmt.Sprintf("7.9.%d", i+1), rfc: "§7.4.1, §7.4.2",
			desc:  fmt.Sprintf("close with invalid code %d: fail 1002", code),
			parts: []part{send(closeCode(code, ""))}, codes: codesOf(1002)})
	}
	// 7.13: messages and a close in one read: the messages are echoed,
	// then the close is answered.
	cs = append(cs, &wsCase{id: "7.13.1", rfc: "§5.5.1", desc: "two texts and a close in one write: two echoes, close 1000",
		parts: []part{send(text("one"), text("two"), closeCode(1000, ""))}, echo: []event{echoText("one"), echoText("two")}, codes: codesOf(1000)})
	return cs
}
