package wsproto

import "encoding/binary"

// Mask XORs p in place with the masking key, starting at key offset pos
// (0-3; larger values are taken modulo 4), and returns the key offset for
// the byte after p. Masking and unmasking are the same operation.
//
// RFC 6455 §5.3: "Octet i of the transformed data ("transformed-octet-i") is
// the XOR of octet i of the original data ("original-octet-i") with octet at
// index i modulo 4 of the masking key ("masking-key-octet-j")".
//
// It works on 8 bytes per step (32 per loop iteration) and does not allocate.
func Mask(p []byte, key [4]byte, pos int) int {
	pos &= 3
	if len(p) == 0 {
		return pos
	}
	// Rotate the key so that its first byte applies to p[0].
	k := uint32(key[pos]) | uint32(key[(pos+1)&3])<<8 | uint32(key[(pos+2)&3])<<16 | uint32(key[(pos+3)&3])<<24
	k64 := uint64(k) | uint64(k)<<32
	b := p
	for len(b) >= 32 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k64)
		binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k64)
		binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k64)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	// Fewer than 8 bytes left, each a multiple of 4 bytes away from the
	// rotated key's start modulo 8, so the rotated key still lines up.
	for i := range b {
		b[i] ^= byte(k >> (8 * (i & 3)))
	}
	return (pos + len(p)) & 3
}
