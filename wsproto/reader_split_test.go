package wsproto

import (
	"strings"
	"testing"
)

// splitStream is fragmented text with a code point cut between fragments
// and a ping in between, a 300-byte binary (16-bit length), an empty pong,
// an unfragmented text and a close.
func splitStream() []byte {
	return cat(
		mf(false, OpText, "Hel"),
		mf(true, OpPing, "p1"),
		mf(false, OpContinuation, "lo, w\xc3"),
		mf(true, OpContinuation, "\xb6rld"),
		mf(true, OpBinary, strings.Repeat("\x00\x01\xfe", 100)),
		mf(true, OpPong, ""),
		mf(true, OpText, "€"),
		mf(true, OpClose, "\x03\xe8bye"),
	)
}

func TestReaderEverySplit(t *testing.T) {
	stream := splitStream()
	want, code := feedChunks(t, stream, nil)
	if code != 0 {
		t.Fatalf("whole stream fails with %d", code)
	}
	if !strings.Contains(want, `text:"Hello, wörld"`) || !strings.HasSuffix(want, `close:1000:"bye"`) {
		t.Fatalf("unexpected events %s", want)
	}
	f := func(cuts ...int) {
		t.Helper()
		got, code := feedChunks(t, stream, nil, cuts...)
		if code != 0 || got != want {
			t.Fatalf("cuts %v: code %d events\n%s\nwant\n%s", cuts, code, got, want)
		}
	}
	for i := 0; i <= len(stream); i++ {
		f(i)
	}
	// Every chunk size.
	for size := 1; size < len(stream); size++ {
		var cuts []int
		for c := size; c < len(stream); c += size {
			cuts = append(cuts, c)
		}
		f(cuts...)
	}
}

func TestReaderEveryPairOfSplits(t *testing.T) {
	// A short stream, cut at every pair of boundaries.
	stream := cat(
		mf(false, OpText, "ab\xe2"),
		mf(true, OpPing, "x"),
		mf(true, OpContinuation, "\x82\xacc"),
		mf(true, OpBinary, "bin"),
		mf(true, OpClose, ""),
	)
	want, _ := feedChunks(t, stream, nil)
	if want != `ping:"x" text:"ab€c" binary:"bin" close:1005:""` {
		t.Fatalf("whole stream: %s", want)
	}
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			got, code := feedChunks(t, stream, nil, i, j)
			if code != 0 || got != want {
				t.Fatalf("cuts %d,%d: code %d events %s", i, j, code, got)
			}
		}
	}
}

func TestReaderSplitErrors(t *testing.T) {
	// Errors do not depend on the split either, and fail fast: the close
	// code comes as soon as the offending byte is in.
	f := func(stream []byte, cfg *Config, want StatusCode) {
		t.Helper()
		for i := 0; i <= len(stream); i++ {
			_, code := feedChunks(t, stream, cfg, i)
			if code != want {
				t.Fatalf("cut at %d: code %d, want %d", i, code, want)
			}
		}
	}
	f(cat(mf(false, OpText, "ok"), mf(false, OpContinuation, "a\xffb"), mf(true, OpContinuation, "c")), nil, CloseInvalidPayload)
	f(cat(mf(false, OpText, "ok"), mf(true, OpText, "x")), nil, CloseProtocolError)
	f(cat(mf(false, OpText, "0123"), mf(true, OpContinuation, "4567")), &Config{MaxMessage: 7}, CloseMessageTooBig)
	f(mf(true, OpClose, "\x03\xed"), nil, CloseProtocolError)

	// The invalid byte is reported by the Feed that brings it, with the
	// rest of the (long) frame still to come.
	fr := mf(true, OpText, "abc\xff"+strings.Repeat("z", 1000))
	var r Reader
	defer r.Reset()
	n := HeaderSize(1004, true) + 4
	b := append([]byte(nil), fr...)
	if err := r.Feed(b[:n-1], nil, nopSink{}); err != nil {
		t.Fatalf("early error %v", err)
	}
	if err := r.Feed(b[n-1:n], nil, nopSink{}); err != ErrInvalidUTF8 {
		t.Fatalf("got %v, want ErrInvalidUTF8 at the bad byte", err)
	}
}

func TestReaderLargeFrameSplits(t *testing.T) {
	// A frame with a 64-bit length, and a fragmented message whose buffer
	// grows through several classes, cut at a spread of offsets.
	big := strings.Repeat("0123456789abcdef", 5000) // 80000 bytes
	stream := cat(
		mf(true, OpBinary, big),
		mf(false, OpText, big[:3000]),
		mf(true, OpPing, ""),
		mf(false, OpContinuation, big[3000:40000]),
		mf(true, OpContinuation, big[40000:]),
	)
	cfg := &Config{MaxMessage: 1 << 20}
	want, code := feedChunks(t, stream, cfg)
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	for i := 0; i <= len(stream); i += 997 {
		for _, d := range []int{0, 1, 2, 5, 9, 13} {
			if c := i + d; c <= len(stream) {
				got, code := feedChunks(t, stream, cfg, c)
				if code != 0 || got != want {
					t.Fatalf("cut %d: code %d", c, code)
				}
			}
		}
	}
	// Byte by byte.
	cuts := make([]int, 0, len(stream))
	for i := 1; i < len(stream); i++ {
		cuts = append(cuts, i)
	}
	if got, code := feedChunks(t, stream, cfg, cuts...); code != 0 || got != want {
		t.Fatalf("byte by byte: code %d", code)
	}
}
