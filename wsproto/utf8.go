package wsproto

import "encoding/binary"

// UTF8 is a streaming UTF-8 validator: a deterministic automaton over the
// well-formed byte sequences of Unicode 15 Table 3-7, fed in pieces of any
// size. A code point split between two Write calls is fine; an invalid byte
// is reported by the Write that receives it (fail fast), without waiting for
// the end of the text. It rejects overlong forms, surrogates (U+D800-DFFF)
// and values over U+10FFFF, exactly like unicode/utf8.Valid.
//
// The zero value is ready to validate a new text. A UTF8 is one byte, owned
// by one goroutine.
type UTF8 struct {
	state uint8
}

// Automaton states. utf8OK is also the state between code points.
const (
	utf8OK      = iota // between code points
	utf8Reject         // sticky: an invalid byte was seen
	utf8Need1          // one continuation 80..BF left
	utf8Need2          // two continuations 80..BF left
	utf8AfterE0        // E0: next must be A0..BF (no overlong 3-byte forms)
	utf8AfterED        // ED: next must be 80..9F (no surrogates)
	utf8Need3          // F1..F3: three continuations 80..BF left
	utf8AfterF0        // F0: next must be 90..BF (no overlong 4-byte forms)
	utf8AfterF4        // F4: next must be 80..8F (nothing over U+10FFFF)
	utf8States
)

// Byte classes: bytes that behave alike in every state.
const (
	clASCII = iota // 00..7F
	clCont8        // 80..8F
	clCont9        // 90..9F
	clContA        // A0..BF
	clLead2        // C2..DF
	clE0           // E0
	clLead3        // E1..EC, EE..EF
	clED           // ED
	clF0           // F0
	clLead4        // F1..F3
	clF4           // F4
	clBad          // C0, C1, F5..FF: never valid
	utf8Classes
)

var (
	utf8Class = buildUTF8Class()
	utf8Next  = buildUTF8Next()
)

func buildUTF8Class() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		var c uint8
		switch {
		case b <= 0x7F:
			c = clASCII
		case b <= 0x8F:
			c = clCont8
		case b <= 0x9F:
			c = clCont9
		case b <= 0xBF:
			c = clContA
		case b <= 0xC1:
			c = clBad
		case b <= 0xDF:
			c = clLead2
		case b == 0xE0:
			c = clE0
		case b == 0xED:
			c = clED
		case b <= 0xEF:
			c = clLead3
		case b == 0xF0:
			c = clF0
		case b <= 0xF3:
			c = clLead4
		case b == 0xF4:
			c = clF4
		default:
			c = clBad
		}
		t[b] = c
	}
	return t
}

func buildUTF8Next() (t [utf8States * 16]uint8) {
	for i := range t {
		t[i] = utf8Reject
	}
	set := func(state uint8, next uint8, classes ...uint8) {
		for _, c := range classes {
			t[int(state)*16+int(c)] = next
		}
	}
	set(utf8OK, utf8OK, clASCII)
	set(utf8OK, utf8Need1, clLead2)
	set(utf8OK, utf8AfterE0, clE0)
	set(utf8OK, utf8Need2, clLead3)
	set(utf8OK, utf8AfterED, clED)
	set(utf8OK, utf8AfterF0, clF0)
	set(utf8OK, utf8Need3, clLead4)
	set(utf8OK, utf8AfterF4, clF4)
	set(utf8Need1, utf8OK, clCont8, clCont9, clContA)
	set(utf8Need2, utf8Need1, clCont8, clCont9, clContA)
	set(utf8AfterE0, utf8Need1, clContA)
	set(utf8AfterED, utf8Need1, clCont8, clCont9)
	set(utf8Need3, utf8Need2, clCont8, clCont9, clContA)
	set(utf8AfterF0, utf8Need2, clCont9, clContA)
	set(utf8AfterF4, utf8Need2, clCont8)
	return t
}

// Write validates the next piece of text. It returns false as soon as p
// holds a byte that cannot continue a valid UTF-8 text, and keeps returning
// false until Reset.
func (u *UTF8) Write(p []byte) bool {
	st := u.state
	i := 0
	for i < len(p) {
		if st == utf8OK {
			// Shortcuts between code points: ASCII runs 8 bytes per
			// step, and whole 2-byte and common 3-byte sequences. They
			// accept exactly what the automaton accepts; everything
			// else (and sequences cut by the end of p) goes through it.
			for len(p)-i >= 8 && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(p) {
				break
			}
			c := p[i]
			switch {
			case c < 0x80:
				i++
				continue
			case c >= 0xC2 && c <= 0xDF && len(p)-i >= 2 && p[i+1]&0xC0 == 0x80:
				i += 2
				continue
			case (c >= 0xE1 && c <= 0xEC || c == 0xEE || c == 0xEF) && len(p)-i >= 3 &&
				p[i+1]&0xC0 == 0x80 && p[i+2]&0xC0 == 0x80:
				i += 3
				continue
			}
		}
		st = utf8Next[int(st)*16+int(utf8Class[p[i]])]
		i++
		if st == utf8Reject {
			break
		}
	}
	u.state = st
	return st != utf8Reject
}

// Done reports whether the text written so far is valid and complete: no
// invalid byte and no code point left unfinished.
func (u *UTF8) Done() bool {
	return u.state == utf8OK
}

// Reset prepares u for a new text.
func (u *UTF8) Reset() {
	u.state = utf8OK
}

// ValidUTF8 reports whether p is a complete, valid UTF-8 text.
func ValidUTF8(p []byte) bool {
	var u UTF8
	return u.Write(p) && u.Done()
}
