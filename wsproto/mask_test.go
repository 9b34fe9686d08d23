package wsproto

import (
	"bytes"
	"testing"
)

func naiveMask(p []byte, key [4]byte, pos int) {
	for i := range p {
		p[i] ^= key[(pos+i)%4]
	}
}

func TestMask(t *testing.T) {
	key := [4]byte{0x01, 0x23, 0x45, 0x67}
	f := func(n, pos int) {
		t.Helper()
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*7 + 3)
		}
		want := append([]byte(nil), src...)
		naiveMask(want, key, pos)
		got := append([]byte(nil), src...)
		if next := Mask(got, key, pos); next != (pos+n)%4 {
			t.Fatalf("n=%d pos=%d: next pos %d", n, pos, next)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("n=%d pos=%d: mismatch", n, pos)
		}
		// In two pieces, carrying the position.
		for cut := 0; cut <= n; cut += 1 + n/7 {
			got := append([]byte(nil), src...)
			p := Mask(got[:cut], key, pos)
			Mask(got[cut:], key, p)
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d pos=%d cut=%d: mismatch", n, pos, cut)
			}
		}
	}
	for n := 0; n <= 100; n++ {
		for pos := 0; pos < 4; pos++ {
			f(n, pos)
		}
	}
	f(4099, 2)
}

func TestMaskAllocs(t *testing.T) {
	skipUnderRace(t)
	p := make([]byte, 1000)
	if n := testing.AllocsPerRun(100, func() { Mask(p, testKey, 1) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
