//go:build linux

package conformance

import (
	"bytes"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"
)

// TestFrameWire checks the client's encoder against the examples of RFC
// 6455 §5.7, whose masking key is defaultKey.
func TestFrameWire(t *testing.T) {
	f := func(fr frame, wantHex string) {
		t.Helper()
		if got := hex.EncodeToString(fr.wire()); got != wantHex {
			t.Fatalf("wire = %s, want %s", got, wantHex)
		}
	}
	// "A single-frame masked text message: 0x81 0x85 0x37 0xfa 0x21 0x3d
	// 0x7f 0x9f 0x4d 0x51 0x58 (contains "Hello")"
	f(text("Hello"), "818537fa213d7f9f4d5158")
	// "A single-frame unmasked text message: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f"
	u := text("Hello")
	u.noMask = true
	f(u, "810548656c6c6f")
	// "A fragmented unmasked text message: 0x01 0x03 0x48 0x65 0x6c
	// (contains "Hel") 0x80 0x02 0x6c 0x6f (contains "lo")"
	a, b := frag(false, opText, []byte("Hel")), frag(true, opCont, []byte("lo"))
	a.noMask, b.noMask = true, true
	f(a, "010348656c")
	f(b, "80026c6f")
	// "256 bytes binary message in a single unmasked frame: 0x82 0x7E 0x0100"
	big := fr(opBinary, make([]byte, 256))
	big.noMask = true
	f(frame{fin: true, op: opBinary, noMask: true}, "8200")
	if got := hex.EncodeToString(big.wire()[:4]); got != "827e0100" {
		t.Fatalf("256-byte header %s", got)
	}
	// "64KiB binary message in a single unmasked frame: 0x82 0x7F
	// 0x0000000000010000"
	huge := fr(opBinary, make([]byte, 65536))
	huge.noMask = true
	if got := hex.EncodeToString(huge.wire()[:10]); got != "827f0000000000010000" {
		t.Fatalf("64 KiB header %s", got)
	}
	// RSV bits and a declared length without payload.
	r := text("")
	r.rsv, r.noMask = 5, true
	f(r, "d100")
	f(frame{op: opBinary, noMask: true, lenEnc: len64, declared: ptr(uint64(1) << 63)}, "027f8000000000000000")
}

func ptr[T any](v T) *T { return &v }

// TestUTF8FailAt checks the fail-fast point the UTF-8 cases cut at.
func TestUTF8FailAt(t *testing.T) {
	f := func(s string, want int) {
		t.Helper()
		if got := utf8FailAt([]byte(s)); got != want {
			t.Fatalf("utf8FailAt(%q) = %d, want %d", s, got, want)
		}
	}
	f("", 1)
	f("abc", 4)
	f("\xce", 2)                                                          // truncated: only the end shows it
	f("\xe2\x82", 3)                                                      // truncated
	f("\xff", 1)                                                          // never valid
	f("ab\x80", 3)                                                        // lone continuation
	f("\xc0\xaf", 1)                                                      // C0 can start nothing
	f("\xe0\x80\xaf", 2)                                                  // E0 80 is overlong
	f("\xed\xa0\x80", 2)                                                  // ED A0 is a surrogate
	f("\xf4\x90\x80\x80", 2)                                              // F4 90 is past U+10FFFF
	f("\xf0\x9f\x98\x80", 5)                                              // valid
	f("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", 13) // 11 bytes of κόσμε, then F4 90
}

// TestJudge shows that the runner can fail: wrong expectations against
// the real server give FAILED or NON-STRICT, never OK.
func TestJudge(t *testing.T) {
	srv := startServer(t, conformanceArgs...)
	oldFF, oldClose := failFastWait, closeWait
	failFastWait, closeWait = 300*time.Millisecond, 500*time.Millisecond
	defer func() { failFastWait, closeWait = oldFF, oldClose }()

	f := func(c *wsCase, wantResult, wantNote string) {
		t.Helper()
		c.id, c.desc = "judge", "judge"
		r := c.run(srv.Addr)
		if r.result != wantResult || !strings.Contains(r.note, wantNote) {
			t.Fatalf("result %s (%s), want %s with a note containing %q", r.result, r.note, wantResult, wantNote)
		}
	}
	// The right expectation is OK.
	f(&wsCase{parts: []part{send(text("y"))}, echo: []event{echoText("y")}, open: true}, resOK, "")
	// A different echo.
	f(&wsCase{parts: []part{send(text("y"))}, echo: []event{echoText("x")}, open: true}, resFailed, "want [text(\"x\")]")
	// A missing pong.
	f(&wsCase{parts: []part{send(pong("p"))}, echo: []event{echoPong("p")}, open: true}, resFailed, "got nothing")
	// Pongs for earlier pings may be left out (§5.5.3), the last may not.
	f(&wsCase{parts: []part{send(ping("a"), ping("b"))}, echo: []event{echoPong("a"), echoPong("b")}, open: true}, resOK, "")
	f(&wsCase{parts: []part{send(ping("a"))}, echo: []event{echoPong("a"), echoPong("b")}, open: true}, resFailed, "want [pong(\"a\"), pong(\"b\")]")
	// A close code that is not expected.
	f(&wsCase{parts: []part{send(text("y"), closeCode(1000, ""))}, echo: []event{echoText("y")}, codes: codesOf(1007)}, resFailed, "close 1000, want [1007]")
	// An open case that the server fails.
	u := text("x")
	u.noMask = true
	f(&wsCase{parts: []part{send(u)}, open: true}, resFailed, "close 1002")
	// A lax code.
	f(&wsCase{parts: []part{send(u)}, codes: codesOf(1003), lax: codesOf(1002)}, resNonStrict, "close 1002; [1003] is better")
	// A late failure: the part marked failing is valid; the bad byte
	// comes after it.
	f(&wsCase{parts: []part{failing(send(frag(false, opText, []byte("ok")))), send(frag(true, opCont, []byte{0xff}))}, codes: codesOf(1007)}, resNonStrict, "late")
	// The server never closes (the case never sends a close).
	f(&wsCase{parts: []part{send(text("y"))}, echo: []event{echoText("y")}, codes: codesOf(1000)}, resFailed, "no close frame and no EOF")
}

// TestClientParser feeds the client's parser what a broken server could
// send and checks that it is caught.
func TestClientParser(t *testing.T) {
	f := func(serverBytes []byte, wantEvents, wantErr string) {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			if _, _, err := readHead(c); err != nil {
				return
			}
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wsAccept + "\r\n\r\n"
			_, _ = c.Write(append([]byte(resp), serverBytes...))
		}()
		cl, err := dial(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		cl.waitUntil(5*time.Second, func(_ []event, ended bool) bool { return ended })
		evs, _ := cl.snapshot()
		cl.mu.Lock()
		perr := cl.protErr
		cl.mu.Unlock()
		got := fmtEvents(evs)
		if got != wantEvents {
			t.Fatalf("events %s, want %s", got, wantEvents)
		}
		if (perr == nil) != (wantErr == "") || perr != nil && !strings.Contains(perr.Error(), wantErr) {
			t.Fatalf("parser error %v, want %q", perr, wantErr)
		}
	}
	srv := func(fs ...frame) []byte {
		for i := range fs {
			fs[i].noMask = true
		}
		return wires(fs...)
	}
	f(srv(text("hi"), closeCode(1000, "")), `[text("hi"), close 1000 ""]`, "")
	f(srv(frag(false, opText, []byte("a")), ping("p"), frag(true, opCont, []byte("b"))), `[ping("p"), text("ab")]`, "")
	f(text("masked").wire(), "nothing", "masked frame")
	r := text("x")
	r.rsv = 4
	f(srv(r), "nothing", "reserved bits")
	f(srv(fr(0x3, nil)), "nothing", "reserved opcode")
	f(srv(closeCode(1005, "")), "nothing", "close code 1005")
	f(srv(closeFrame([]byte{3})), "nothing", "1-byte payload")
	f(srv(fr(opText, []byte{0xff})), "nothing", "not UTF-8")
	f(srv(closeCode(1000, ""), text("late")), `[close 1000 ""]`, "after its close frame")
	f(srv(frag(false, opPing, nil)), "nothing", "fragmented or oversized control")
	f(srv(frag(true, opCont, []byte("x"))), "nothing", "continuation with no message")
	if !bytes.Equal(srv(text("a")), []byte{0x81, 1, 'a'}) {
		t.Fatal("srv helper")
	}
}
