package wsproto

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeaderSize(t *testing.T) {
	f := func(n int, masked bool, want int) {
		t.Helper()
		if got := HeaderSize(n, masked); got != want {
			t.Fatalf("HeaderSize(%d, %v) = %d, want %d", n, masked, got, want)
		}
		if got := len(AppendHeader(nil, true, OpBinary, n)); !masked && got != want {
			t.Fatalf("AppendHeader(%d) is %d bytes, want %d", n, got, want)
		}
	}
	f(0, false, 2)
	f(125, false, 2)
	f(126, false, 4)
	f(65535, false, 4)
	f(65536, false, 10)
	f(0, true, 6)
	f(126, true, 8)
	f(1<<40, true, 14)
}

func TestAppendHeader(t *testing.T) {
	f := func(fin bool, op OpCode, n int, want string) {
		t.Helper()
		if got := string(AppendHeader(nil, fin, op, n)); got != want {
			t.Fatalf("AppendHeader(%v, %v, %d) = %q, want %q", fin, op, n, got, want)
		}
	}
	// RFC 6455 §5.7 examples.
	f(true, OpText, 5, "\x81\x05")
	f(false, OpText, 3, "\x01\x03")
	f(true, OpContinuation, 2, "\x80\x02")
	f(true, OpBinary, 256, "\x82\x7e\x01\x00")
	f(true, OpBinary, 65536, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00")
	f(true, OpPong, 0, "\x8a\x00")
}

func TestAppendFrames(t *testing.T) {
	// RFC 6455 §5.7: unmasked and masked "Hello".
	if got := string(AppendFrame(nil, true, OpText, []byte("Hello"))); got != "\x81\x05\x48\x65\x6c\x6c\x6f" {
		t.Fatalf("AppendFrame = %q", got)
	}
	payload := []byte("Hello")
	got := AppendMaskedFrame([]byte("pre"), true, OpText, payload, [4]byte{0x37, 0xfa, 0x21, 0x3d})
	if want := "pre\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"; string(got) != want {
		t.Fatalf("AppendMaskedFrame = %q, want %q", got, want)
	}
	if string(payload) != "Hello" {
		t.Fatal("AppendMaskedFrame modified its payload")
	}
}

func TestAppendClose(t *testing.T) {
	f := func(code StatusCode, reason string, wantPayload string) {
		t.Helper()
		fr := AppendClose(nil, code, reason)
		want := string(AppendFrame(nil, true, OpClose, []byte(wantPayload)))
		if string(fr) != want {
			t.Fatalf("AppendClose(%d, %q) = %q, want %q", code, reason, fr, want)
		}
	}
	f(0, "ignored", "")
	f(CloseNormal, "", "\x03\xe8")
	f(CloseGoingAway, "bye", "\x03\xe9bye")
	f(CloseProtocolError, strings.Repeat("a", 200), "\x03\xea"+strings.Repeat("a", 123))
	// Cut on a code point boundary: 61 two-byte runes fill 122 bytes.
	f(CloseInternalError, strings.Repeat("é", 100), "\x03\xf3"+strings.Repeat("é", 61))
	// A 4-byte rune straddling byte 123 is dropped whole.
	f(CloseMessageTooBig, strings.Repeat("a", 121)+"😀", "\x03\xf1"+strings.Repeat("a", 121))
	for n := 0; n < 200; n++ {
		fr := AppendClose(nil, CloseNormal, strings.Repeat("x", n%3)+strings.Repeat("€", n))
		if len(fr) > 2+125 || !utf8.Valid(fr[4:]) {
			t.Fatalf("n=%d: bad close frame %q", n, fr)
		}
	}
}

func TestBuilderReaderRoundTrip(t *testing.T) {
	// Every size around the length encodings survives the Reader.
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{0xa5}, n)
		fr := AppendMaskedFrame(nil, true, OpBinary, payload, testKey)
		var got []byte
		s := &funcSink{onMessage: func(_ OpCode, p []byte) error { got = append([]byte(nil), p...); return nil }}
		var r Reader
		if err := r.Feed(fr, &Config{MaxMessage: 1 << 20}, s); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: payload mismatch", n)
		}
		var rc Reader
		if err := rc.Feed(AppendFrame(nil, true, OpBinary, payload), &Config{Client: true, MaxMessage: 1 << 20}, s); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: client side: %v", n, err)
		}
	}
}

func TestOpCode(t *testing.T) {
	for op := OpCode(0); op < 16; op++ {
		if op.IsControl() != (op >= 8) {
			t.Fatalf("%d.IsControl() = %v", op, op.IsControl())
		}
	}
}

func TestValidCloseCode(t *testing.T) {
	valid := map[int]bool{}
	for c := 1000; c <= 1003; c++ {
		valid[c] = true
	}
	for c := 1007; c <= 1014; c++ {
		valid[c] = true
	}
	for c := 3000; c <= 4999; c++ {
		valid[c] = true
	}
	for c := 0; c < 1<<16; c++ {
		if ValidCloseCode(StatusCode(c)) != valid[c] {
			t.Fatalf("ValidCloseCode(%d) = %v", c, !valid[c])
		}
	}
}
