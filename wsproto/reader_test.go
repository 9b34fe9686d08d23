package wsproto

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestReaderChecks(t *testing.T) {
	f := func(name string, stream []byte, cfg *Config, wantEvents string, wantCode StatusCode) {
		t.Helper()
		events, code := feedChunks(t, stream, cfg)
		if code != wantCode {
			t.Fatalf("%s: close code %d, want %d (events %s)", name, code, wantCode, events)
		}
		if events != wantEvents {
			t.Fatalf("%s: events\n%s\nwant\n%s", name, events, wantEvents)
		}
	}
	server := &Config{}
	client := &Config{Client: true}

	f("text", mf(true, OpText, "hello"), server, `text:"hello"`, 0)
	f("binary", mf(true, OpBinary, "\x00\xff"), server, `binary:"\x00\xff"`, 0)
	f("empty text", mf(true, OpText, ""), server, `text:""`, 0)
	f("client side", AppendFrame(nil, true, OpText, []byte("hi")), client, `text:"hi"`, 0)

	// Masking (RFC 6455 §5.1).
	f("unmasked to server", AppendFrame(nil, true, OpText, []byte("hi")), server, "", CloseProtocolError)
	f("masked to client", mf(true, OpText, "hi"), client, "", CloseProtocolError)
	f("nil config is server", AppendFrame(nil, true, OpText, []byte("hi")), nil, "", CloseProtocolError)

	// Reserved bits (§5.2).
	for _, rsv := range []byte{0x40, 0x20, 0x10} {
		fr := mf(true, OpText, "x")
		fr[0] |= rsv
		f("rsv", fr, server, "", CloseProtocolError)
	}

	// Reserved opcodes (§5.2).
	for _, op := range []OpCode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		f("opcode "+op.String(), mf(true, op, "x"), server, "", CloseProtocolError)
	}

	// Control frames (§5.5).
	f("ping", mf(true, OpPing, "p"), server, `ping:"p"`, 0)
	f("pong empty", mf(true, OpPong, ""), server, `pong:""`, 0)
	f("ping 125", mf(true, OpPing, strings.Repeat("a", 125)), server, `ping:"`+strings.Repeat("a", 125)+`"`, 0)
	f("ping 126", mf(true, OpPing, strings.Repeat("a", 126)), server, "", CloseProtocolError)
	f("fragmented ping", mf(false, OpPing, "p"), server, "", CloseProtocolError)
	f("fragmented close", mf(false, OpClose, ""), server, "", CloseProtocolError)

	// Fragmentation (§5.4).
	f("fragments", cat(mf(false, OpText, "a"), mf(false, OpContinuation, "b"), mf(true, OpContinuation, "c")), server, `text:"abc"`, 0)
	f("continuation first", mf(true, OpContinuation, "a"), server, "", CloseProtocolError)
	f("continuation after message", cat(mf(true, OpText, "a"), mf(true, OpContinuation, "b")), server, `text:"a"`, CloseProtocolError)
	f("text inside fragments", cat(mf(false, OpText, "a"), mf(true, OpText, "b")), server, "", CloseProtocolError)
	f("binary inside fragments", cat(mf(false, OpBinary, "a"), mf(false, OpBinary, "b")), server, "", CloseProtocolError)
	f("interleaved control", cat(mf(false, OpBinary, "a"), mf(true, OpPing, "1"), mf(false, OpContinuation, "b"), mf(true, OpPong, "2"), mf(true, OpClose, "\x03\xe8"), mf(true, OpContinuation, "c")),
		server, `ping:"1" pong:"2" close:1000:"" binary:"abc"`, 0)
	f("empty fragments", cat(mf(false, OpText, ""), mf(true, OpContinuation, "")), server, `text:""`, 0)

	// 64-bit length with the high bit set (§5.2): over any limit, 1009.
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<63)
	hdr = append(hdr, testKey[:]...)
	f("length high bit", hdr, server, "", CloseMessageTooBig)

	// Message size (1009), from the header alone.
	small := &Config{MaxMessage: 10}
	f("at limit", mf(true, OpBinary, "0123456789"), small, `binary:"0123456789"`, 0)
	f("over limit", mf(true, OpBinary, "0123456789a"), small, "", CloseMessageTooBig)
	f("fragments over limit", cat(mf(false, OpText, "012345"), mf(true, OpContinuation, "6789a")), small, "", CloseMessageTooBig)
	f("fragments at limit", cat(mf(false, OpText, "012345"), mf(true, OpContinuation, "6789")), small, `text:"0123456789"`, 0)
	f("control not counted", cat(mf(false, OpText, "012345"), mf(true, OpPing, "0123456789"), mf(true, OpContinuation, "6789")), small,
		`ping:"0123456789" text:"0123456789"`, 0)
	f("default limit", mf(true, OpBinary, strings.Repeat("x", DefaultMaxMessage+1)), server, "", CloseMessageTooBig)
	huge := []byte{0x82, 0x80 | 127}
	huge = binary.BigEndian.AppendUint64(huge, 1<<63-1)
	huge = append(huge, testKey[:]...)
	f("2^63-1 bytes announced", huge, server, "", CloseMessageTooBig)

	// UTF-8 (§8.1): 1007.
	f("invalid text", mf(true, OpText, "a\xffb"), server, "", CloseInvalidPayload)
	f("surrogate", mf(true, OpText, "\xed\xa0\x80"), server, "", CloseInvalidPayload)
	f("truncated text", mf(true, OpText, "\xe2\x82"), server, "", CloseInvalidPayload)
	f("binary is not checked", mf(true, OpBinary, "\xff"), server, `binary:"\xff"`, 0)
	f("code point across fragments", cat(mf(false, OpText, "\xe2"), mf(false, OpContinuation, "\x82"), mf(true, OpContinuation, "\xac")), server, `text:"€"`, 0)
	f("truncated across fragments", cat(mf(false, OpText, "\xe2"), mf(true, OpContinuation, "\x82")), server, "", CloseInvalidPayload)
	// Fail fast: the invalid first fragment fails before the message ends.
	f("fail fast", cat(mf(false, OpText, "ok\xc0\xafrest")), server, "", CloseInvalidPayload)
	f("fail fast across fragments", cat(mf(false, OpText, "\xf4"), mf(false, OpContinuation, "\x90")), server, "", CloseInvalidPayload)

	// Close frames (§5.5.1, §7.4).
	f("close empty", mf(true, OpClose, ""), server, `close:1005:""`, 0)
	f("close normal", mf(true, OpClose, "\x03\xe8bye"), server, `close:1000:"bye"`, 0)
	f("close one byte", mf(true, OpClose, "\x03"), server, "", CloseProtocolError)
	f("close bad reason", mf(true, OpClose, "\x03\xe8\xff"), server, "", CloseInvalidPayload)
	for _, c := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		f("close code", mf(true, OpClose, string(binary.BigEndian.AppendUint16(nil, c))), server, "", CloseProtocolError)
	}
	for _, c := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		f("close code", mf(true, OpClose, string(binary.BigEndian.AppendUint16(nil, c))), server, "close:"+strconv.Itoa(int(c))+`:""`, 0)
	}
}

// The tests below are one per close code the server sends.

func TestClose1000Echo(t *testing.T) {
	// The peer closes normally; the server echoes the code.
	var r Reader
	var got StatusCode
	var reason string
	s := &funcSink{onClose: func(c StatusCode, rs []byte) error { got, reason = c, string(rs); return nil }}
	if err := r.Feed(mf(true, OpClose, "\x03\xe8done"), nil, s); err != nil {
		t.Fatal(err)
	}
	if got != CloseNormal || reason != "done" {
		t.Fatalf("close %d %q", got, reason)
	}
	echo := AppendClose(nil, got, "")
	if want := "\x88\x02\x03\xe8"; string(echo) != want {
		t.Fatalf("echo %q, want %q", echo, want)
	}
}

func TestClose1002(t *testing.T) {
	var r Reader
	err := r.Feed(AppendFrame(nil, true, OpText, []byte("x")), nil, nopSink{})
	if err != ErrUnmasked || ErrUnmasked.Code != CloseProtocolError {
		t.Fatalf("err %v", err)
	}
}

func TestClose1007(t *testing.T) {
	var r Reader
	err := r.Feed(mf(true, OpText, "\xc3\x28"), nil, nopSink{})
	if !errors.Is(err, ErrInvalidUTF8) || ErrInvalidUTF8.Code != CloseInvalidPayload {
		t.Fatalf("err %v", err)
	}
}

func TestClose1009(t *testing.T) {
	// Only the header of a too-big frame is fed: it fails at once.
	var r Reader
	fr := mf(true, OpBinary, strings.Repeat("x", 100))
	err := r.Feed(fr[:HeaderSize(100, true)], &Config{MaxMessage: 99}, nopSink{})
	if err != ErrMessageTooBig || ErrMessageTooBig.Code != CloseMessageTooBig {
		t.Fatalf("err %v", err)
	}
	if r.buf != nil {
		t.Fatalf("buffer taken for a rejected frame")
	}
}

func TestServerCloseErrors(t *testing.T) {
	f := func(e *CloseError, code StatusCode, wantFrame string) {
		t.Helper()
		if e.Code != code {
			t.Fatalf("%v: code %d, want %d", e, e.Code, code)
		}
		if got := string(AppendClose(nil, e.Code, e.Reason)); got != wantFrame {
			t.Fatalf("%v: frame %q, want %q", e, got, wantFrame)
		}
	}
	f(ErrGoingAway, CloseGoingAway, "\x88\x0c\x03\xe9going away")
	f(ErrPolicyViolation, ClosePolicyViolation, "\x88\x12\x03\xf0policy violation")
	f(ErrInternal, CloseInternalError, "\x88\x10\x03\xf3internal error")
	f(ErrUnmasked, CloseProtocolError, "\x88\x17\x03\xeaunmasked client frame")
	if s := ErrInvalidUTF8.Error(); s != "wsproto: invalid UTF-8 (close 1007)" {
		t.Fatalf("Error() = %q", s)
	}
	if s := (&CloseError{Code: 4000, Reason: "custom"}).Error(); s != "wsproto: custom (close 4000)" {
		t.Fatalf("Error() = %q", s)
	}
}

// funcSink calls the set functions.
type funcSink struct {
	nopSink
	onMessage func(OpCode, []byte) error
	onClose   func(StatusCode, []byte) error
}

func (s *funcSink) OnMessage(op OpCode, p []byte) error {
	if s.onMessage != nil {
		return s.onMessage(op, p)
	}
	return nil
}

func (s *funcSink) OnClose(c StatusCode, p []byte) error {
	if s.onClose != nil {
		return s.onClose(c, p)
	}
	return nil
}

func TestSinkErrorStopsFeed(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	s := &funcSink{onMessage: func(OpCode, []byte) error { n++; return stop }}
	var r Reader
	err := r.Feed(cat(mf(true, OpText, "a"), mf(true, OpText, "b")), nil, s)
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d messages", err, n)
	}
}

func TestReaderZeroCopy(t *testing.T) {
	// A whole frame is delivered as a sub-slice of the fed buffer.
	fr := mf(true, OpBinary, "payload")
	var got []byte
	s := &funcSink{onMessage: func(_ OpCode, p []byte) error { got = p; return nil }}
	var r Reader
	if err := r.Feed(fr, nil, s); err != nil {
		t.Fatal(err)
	}
	if &got[0] != &fr[len(fr)-len("payload")] {
		t.Fatalf("payload was copied")
	}
}

func TestReaderIdleAndReset(t *testing.T) {
	fr := mf(true, OpText, "hello")
	var r Reader
	if !r.Idle() {
		t.Fatal("zero Reader not idle")
	}
	for i := 1; i < len(fr); i++ {
		r.Reset()
		b := append([]byte(nil), fr...)
		if err := r.Feed(b[:i], nil, nopSink{}); err != nil {
			t.Fatal(err)
		}
		if r.Idle() {
			t.Fatalf("idle after %d of %d bytes", i, len(fr))
		}
		if err := r.Feed(b[i:], nil, nopSink{}); err != nil {
			t.Fatal(err)
		}
		if !r.Idle() || r.buf != nil {
			t.Fatalf("not idle (or buffer held) after the whole frame, cut at %d", i)
		}
	}
	// An open fragmented message is not idle; Reset releases it.
	if err := r.Feed(mf(false, OpText, "abc"), nil, nopSink{}); err != nil {
		t.Fatal(err)
	}
	if r.Idle() || r.buf == nil {
		t.Fatal("open message: want not idle, buffer held")
	}
	r.Reset()
	if !r.Idle() || r.buf != nil {
		t.Fatal("Reset did not clear")
	}
}

func TestReaderSize(t *testing.T) {
	size := unsafe.Sizeof(Reader{})
	t.Logf("unsafe.Sizeof(Reader{}) = %d", size)
	if size > 176 {
		t.Fatalf("Reader is %d bytes, budget 176", size)
	}
}
