package wsproto

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// checkUTF8 compares UTF8 with unicode/utf8.Valid on p whole and split at
// every byte (and, for short p, at every pair of bytes).
func checkUTF8(t *testing.T, p []byte) {
	t.Helper()
	want := utf8.Valid(p)
	if got := ValidUTF8(p); got != want {
		t.Fatalf("ValidUTF8(%q) = %v, want %v", p, got, want)
	}
	for i := 0; i <= len(p); i++ {
		var u UTF8
		ok := u.Write(p[:i]) && u.Write(p[i:]) && u.Done()
		if ok != want {
			t.Fatalf("%q split at %d: %v, want %v", p, i, ok, want)
		}
		if len(p) > 12 {
			continue
		}
		for j := i; j <= len(p); j++ {
			var u UTF8
			ok := u.Write(p[:i]) && u.Write(p[i:j]) && u.Write(p[j:]) && u.Done()
			if ok != want {
				t.Fatalf("%q split at %d,%d: %v, want %v", p, i, j, ok, want)
			}
		}
	}
}

func TestUTF8Edges(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if utf8.ValidString(s) != want {
			t.Fatalf("bad test case %q", s)
		}
		checkUTF8(t, []byte(s))
	}
	f("", true)
	f("plain ASCII, longer than eight bytes", true)
	f("\x00\x7f", true)
	f("κόσμε", true)
	f("€𐍈\U0010FFFF\uFFFD\u07ff\u0800\uffff\U00010000", true)
	f("\xed\x9f\xbf", true)              // U+D7FF
	f("\xee\x80\x80", true)              // U+E000
	f("\xed\xa0\x80", false)             // U+D800
	f("\xed\xbf\xbf", false)             // U+DFFF
	f("\xed\xa0\x80\xed\xb0\x80", false) // surrogate pair
	f("\xc0\x80", false)                 // overlong NUL
	f("\xc1\xbf", false)                 // overlong
	f("\xe0\x80\x80", false)             // overlong 3-byte
	f("\xe0\x9f\xbf", false)             // overlong 3-byte
	f("\xf0\x80\x80\x80", false)         // overlong 4-byte
	f("\xf0\x8f\xbf\xbf", false)         // overlong 4-byte
	f("\xf4\x90\x80\x80", false)         // U+110000
	f("\xf5\x80\x80\x80", false)
	f("\xff", false)
	f("\x80", false)
	f("\xbf", false)
	f("\xe2\x82", false)     // truncated
	f("\xf0\x9f\x98", false) // truncated
	f("a\xf0\x9f\x98\x80b", true)
	f("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", false)
}

func TestUTF8Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Bytes drawn mostly from the interesting ranges.
	alphabet := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff}
	for i := 0; i < 20000; i++ {
		p := make([]byte, rng.IntN(24))
		for j := range p {
			if rng.IntN(4) == 0 {
				p[j] = byte(rng.UintN(256))
			} else {
				p[j] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		checkUTF8(t, p)
	}
	// Valid random text, with ASCII runs for the 8-byte path.
	for i := 0; i < 2000; i++ {
		var p []byte
		for len(p) < 64 {
			if rng.IntN(3) == 0 {
				p = append(p, "ascii run "...)
			}
			r := rune(rng.IntN(0x110000))
			p = utf8.AppendRune(p, r) // surrogates become U+FFFD
		}
		checkUTF8(t, p)
	}
}

func TestUTF8Sticky(t *testing.T) {
	var u UTF8
	if u.Write([]byte("a\xff")) || u.Write([]byte("ok")) || u.Done() {
		t.Fatal("reject state not sticky")
	}
	u.Reset()
	if !u.Write([]byte("ok")) || !u.Done() {
		t.Fatal("Reset did not clear")
	}
}
