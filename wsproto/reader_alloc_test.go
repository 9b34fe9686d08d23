package wsproto

import (
	"strings"
	"testing"
)

func TestReaderAllocsFastPath(t *testing.T) {
	skipUnderRace(t)
	f := func(name string, frame []byte) {
		t.Helper()
		var r Reader
		buf := make([]byte, len(frame))
		n := testing.AllocsPerRun(1000, func() {
			copy(buf, frame)
			if err := r.Feed(buf, nil, nopSink{}); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Fatalf("%s: %v allocs per Feed, want 0", name, n)
		}
	}
	f("text", mf(true, OpText, "hello, world"))
	f("binary 4k", mf(true, OpBinary, strings.Repeat("x", 4096)))
	f("ping", mf(true, OpPing, "p"))
	f("close", mf(true, OpClose, "\x03\xe8bye"))
}

func TestReaderAllocsSteadyState(t *testing.T) {
	skipUnderRace(t)
	f := func(name string, stream []byte, cut int) {
		t.Helper()
		var r Reader
		buf := make([]byte, len(stream))
		run := func() {
			copy(buf, stream)
			if err := r.Feed(buf[:cut], nil, nopSink{}); err != nil {
				t.Fatal(err)
			}
			if err := r.Feed(buf[cut:], nil, nopSink{}); err != nil {
				t.Fatal(err)
			}
			if !r.Idle() {
				t.Fatal("not idle")
			}
		}
		run() // warm the buffer pool
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Fatalf("%s: %v allocs, want 0", name, n)
		}
	}
	small := mf(true, OpText, "hello, world")
	f("small split in payload", small, len(small)-3)
	f("small split in header", small, 3)
	big := mf(true, OpBinary, strings.Repeat("x", 20000))
	f("20k split", big, 10000)
	frag := cat(mf(false, OpText, "frag"), mf(true, OpPing, ""), mf(true, OpContinuation, "ment"))
	f("fragmented", frag, len(frag)/2)
	ctl := mf(true, OpPing, strings.Repeat("p", 100))
	f("control split", ctl, 50)
}
