//go:build linux

package conformance

import (
	"encoding/binary"
	"unicode/utf8"
)

// WebSocket opcodes (RFC 6455 §5.2), as plain bytes: the client sends any
// 4-bit value, known or not.
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// Length encodings for frame.lenEnc (RFC 6455 §5.2, "Payload length: 7
// bits, 7+16 bits, or 7+64 bits").
const (
	lenMinimal = 0
	len16      = 16
	len64      = 64
)

// frame is one client frame exactly as it goes on the wire. Its zero
// fields give a masked, minimally encoded frame with FIN clear; fr and the
// helpers below fill the usual ones.
type frame struct {
	fin     bool
	rsv     byte // the three RSV bits, 0..7 (RSV1 = 4)
	op      byte // 4 bits, any value
	payload []byte
	noMask  bool    // send unmasked (RFC 6455 §5.1 forbids it for a client)
	key     [4]byte // masking key; the zero key is valid too
	lenEnc  int     // lenMinimal, len16 or len64
	// declared, when set, is the length written in the header instead of
	// len(payload): the bytes that follow are only payload.
	declared *uint64
}

// defaultKey is the masking key of most frames: not zero, so that a server
// that forgets to unmask sees garbage.
var defaultKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// fr returns a final, masked frame.
func fr(op byte, payload []byte) frame {
	return frame{fin: true, op: op, payload: payload, key: defaultKey}
}

// frag returns a masked frame with FIN as given.
func frag(fin bool, op byte, payload []byte) frame {
	return frame{fin: fin, op: op, payload: payload, key: defaultKey}
}

func text(s string) frame       { return fr(opText, []byte(s)) }
func binary_(b []byte) frame    { return fr(opBinary, b) }
func ping(s string) frame       { return fr(opPing, []byte(s)) }
func pong(s string) frame       { return fr(opPong, []byte(s)) }
func closeFrame(p []byte) frame { return fr(opClose, p) }

// closeCode returns a close frame with code and reason.
func closeCode(code uint16, reason string) frame {
	return closeFrame(append(binary.BigEndian.AppendUint16(nil, code), reason...))
}

// wire encodes f.
func (f frame) wire() []byte {
	n := uint64(len(f.payload))
	if f.declared != nil {
		n = *f.declared
	}
	b := make([]byte, 0, 14+len(f.payload))
	b0 := f.rsv<<4 | f.op&0x0F
	if f.fin {
		b0 |= 0x80
	}
	var m byte = 0x80
	if f.noMask {
		m = 0
	}
	switch {
	case f.lenEnc == len64 || f.lenEnc == lenMinimal && n > 0xFFFF:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, n)
	case f.lenEnc == len16 || f.lenEnc == lenMinimal && n > 125:
		b = append(b, b0, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, m|byte(n))
	}
	if f.noMask {
		return append(b, f.payload...)
	}
	b = append(b, f.key[:]...)
	for i, c := range f.payload {
		b = append(b, c^f.key[i&3])
	}
	return b
}

// headerLen is the size of f's header on the wire.
func (f frame) headerLen() int { return len(f.wire()) - len(f.payload) }

// wires concatenates frames.
func wires(fs ...frame) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f.wire()...)
	}
	return b
}

// fragments splits payload into frames of at most size bytes: the first
// with op, the rest continuations, FIN on the last. An empty payload is one
// frame.
func fragments(op byte, payload []byte, size int) []frame {
	var fs []frame
	for first := true; first || len(payload) > 0; first = false {
		n := min(size, len(payload))
		o := opCont
		if first {
			o = op
		}
		fs = append(fs, frag(n == len(payload), o, payload[:n]))
		payload = payload[n:]
	}
	return fs
}

// repeat returns n bytes of a repeating printable pattern (valid UTF-8).
func repeat(n int) []byte {
	const pat = "Hello, c1m! 0123456789 abcdefghijklmnopqrstuvwxyz\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = pat[i%len(pat)]
	}
	return b
}

// binaryPattern returns n bytes covering every byte value.
func binaryPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// utf8FailAt returns the length of the shortest prefix of p that no
// continuation can make valid UTF-8 (where a streaming validator must fail
// fast), or len(p)+1 when every prefix can still be completed (then only
// the end of the text shows it invalid, if it is). It is built on
// unicode/utf8, independently of the server's validator.
func utf8FailAt(p []byte) int {
	for k := 1; k <= len(p); k++ {
		if !completable(p[:k]) {
			return k
		}
	}
	return len(p) + 1
}

// completable reports whether some bytes appended to p make it valid.
func completable(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	// Only an unfinished last sequence (1 to 3 bytes) can be saved.
	for t := 1; t <= 3 && t <= len(p); t++ {
		head, tail := p[:len(p)-t], p[len(p)-t:]
		if !utf8.Valid(head) {
			continue
		}
		// The second byte of a sequence carries all of UTF-8's range
		// restrictions; the later ones are any 80..BF.
		for c := 0x80; c <= 0xBF; c++ {
			for extra := 0; extra <= 2; extra++ {
				q := append(append([]byte(nil), tail...), byte(c))
				for i := 0; i < extra; i++ {
					q = append(q, 0x80)
				}
				if utf8.Valid(q) {
					return true
				}
			}
		}
	}
	return false
}
