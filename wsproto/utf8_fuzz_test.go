package wsproto

import (
	"testing"
	"unicode/utf8"
)

// FuzzUTF8 feeds the streaming validator a fuzz-chosen text cut at two
// fuzz-chosen points. Whatever the cuts, it must agree with
// unicode/utf8.Valid, fail fast (a Write that returns false stays false,
// and no Write returns false on a prefix that is still valid UTF-8 up to
// an unfinished code point), and never panic.
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("κόσμε"), uint16(3), uint16(5))
	f.Add([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), uint16(11), uint16(12))
	f.Add([]byte("\xed\xa0\x80"), uint16(1), uint16(2))
	f.Add([]byte("\xf0\x9f\x98\x80 plain ASCII run of more than eight bytes"), uint16(2), uint16(9))
	f.Fuzz(func(t *testing.T, p []byte, c1, c2 uint16) {
		want := utf8.Valid(p)
		if got := ValidUTF8(p); got != want {
			t.Fatalf("ValidUTF8(%q) = %v, want %v", p, got, want)
		}
		i := int(c1) % (len(p) + 1)
		j := int(c2) % (len(p) + 1)
		if i > j {
			i, j = j, i
		}
		var u UTF8
		okA := u.Write(p[:i])
		okB := okA && u.Write(p[i:j])
		okC := okB && u.Write(p[j:])
		if got := okC && u.Done(); got != want {
			t.Fatalf("%q cut at %d,%d: %v, want %v", p, i, j, got, want)
		}
		// Fail fast: a Write is refused exactly when the text up to the
		// end of its piece can no longer become valid.
		if okA != canComplete(p[:i]) {
			t.Fatalf("%q: Write of the first %d bytes returned %v", p, i, okA)
		}
		if okA && okB != canComplete(p[:j]) {
			t.Fatalf("%q: Write up to byte %d returned %v", p, j, okB)
		}
		if !okC {
			// The reject state is sticky.
			if u.Write([]byte("a")) || u.Done() {
				t.Fatalf("%q: reject state not sticky", p)
			}
		}
	})
}

// canComplete reports whether some bytes appended to p make it valid
// UTF-8, using only unicode/utf8: p is valid up to a last sequence of one to
// three bytes that a continuation byte can still extend.
func canComplete(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for t := 1; t <= 3 && t <= len(p); t++ {
		if !utf8.Valid(p[:len(p)-t]) {
			continue
		}
		tail := p[len(p)-t:]
		for c := 0x80; c <= 0xBF; c++ {
			q := append(append([]byte(nil), tail...), byte(c), 0x80, 0x80)
			for k := len(tail) + 1; k <= len(q); k++ {
				if utf8.Valid(q[:k]) {
					return true
				}
			}
		}
	}
	return false
}
