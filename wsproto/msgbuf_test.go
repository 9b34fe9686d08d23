package wsproto

import (
	"encoding/binary"
	"testing"
)

func TestBufClass(t *testing.T) {
	f := func(n, wantClass, wantSize int) {
		t.Helper()
		c := bufClass(n)
		if c != wantClass || c >= 0 && classSize(c) != wantSize {
			t.Fatalf("bufClass(%d) = %d, want %d (size %d)", n, c, wantClass, wantSize)
		}
	}
	f(0, 0, 4<<10)
	f(4<<10, 0, 4<<10)
	f(4<<10+1, 1, 16<<10)
	f(64<<10, 2, 64<<10)
	f(64<<20, 7, 64<<20)
	f(64<<20+1, -1, 0)
}

func TestGrowBuf(t *testing.T) {
	// Growth follows the bytes that arrive, class by class, and keeps them.
	var bp *[]byte
	chunk := make([]byte, 3000)
	var want []int
	for i := range 10 {
		for j := range chunk {
			chunk[j] = byte(i)
		}
		bp = growBuf(bp, chunk)
		want = append(want, cap(*bp))
	}
	if got := len(*bp); got != 30000 {
		t.Fatalf("len %d", got)
	}
	for i, b := range *bp {
		if b != byte(i/3000) {
			t.Fatalf("byte %d = %d", i, b)
		}
	}
	if cap(*bp) != 64<<10 {
		t.Fatalf("caps %v", want)
	}
	putBuf(bp)
}

func TestHugeHeaderNoAlloc(t *testing.T) {
	skipUnderRace(t)
	// A header announcing 2^63-1 bytes fails with 1009 without allocating.
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<63-1)
	hdr = append(hdr, testKey[:]...)
	var r Reader // heap-allocated once: Feed hands r's arrays to the Sink
	n := testing.AllocsPerRun(100, func() {
		r.Reset()
		if err := r.Feed(hdr, nil, nopSink{}); err != ErrMessageTooBig {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
