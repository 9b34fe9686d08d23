package wsproto

import "encoding/binary"

// Frame header bits (RFC 6455 §5.2).
const (
	bitFIN  = 0x80
	bitsRSV = 0x70
	bitMask = 0x80

	maxControlPayload = MaxControlPayload
	// MaxHeaderSize is the largest frame header: 2 bytes, a 64-bit
	// extended length and a masking key.
	MaxHeaderSize = 2 + 8 + 4
)

// MaxControlPayload is the largest payload of a control frame: RFC 6455
// §5.5, "All control frames MUST have a payload length of 125 bytes or
// less".
const MaxControlPayload = 125

// HeaderSize returns the size of a frame header for a payload of payloadLen
// bytes (payloadLen >= 0), with a masking key when masked.
//
// RFC 6455 §5.2: "Payload length: 7 bits, 7+16 bits, or 7+64 bits".
func HeaderSize(payloadLen int, masked bool) int {
	n := 2
	switch {
	case payloadLen > 0xFFFF:
		n += 8
	case payloadLen > 125:
		n += 2
	}
	if masked {
		n += 4
	}
	return n
}

// appendHeader appends a header; mask sets the MASK bit (the caller appends
// the key).
func appendHeader(dst []byte, fin bool, op OpCode, payloadLen int, mask byte) []byte {
	b0 := byte(op) & 0x0F
	if fin {
		b0 |= bitFIN
	}
	// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode
	// the length".
	switch {
	case payloadLen <= 125:
		return append(dst, b0, mask|byte(payloadLen))
	case payloadLen <= 0xFFFF:
		return append(dst, b0, mask|126, byte(payloadLen>>8), byte(payloadLen))
	default:
		dst = append(dst, b0, mask|127)
		return binary.BigEndian.AppendUint64(dst, uint64(payloadLen))
	}
}

// AppendHeader appends an unmasked (server) frame header for a payload of
// payloadLen bytes (payloadLen >= 0) to dst and returns the extended slice.
func AppendHeader(dst []byte, fin bool, op OpCode, payloadLen int) []byte {
	return appendHeader(dst, fin, op, payloadLen, 0)
}

// AppendFrame appends an unmasked (server) frame carrying payload to dst.
//
// RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the
// client."
func AppendFrame(dst []byte, fin bool, op OpCode, payload []byte) []byte {
	dst = appendHeader(dst, fin, op, len(payload), 0)
	return append(dst, payload...)
}

// AppendMaskedFrame appends a masked (client) frame to dst; the copy of
// payload in dst is masked with key, payload itself is left as it is.
//
// RFC 6455 §5.1: "a client MUST mask all frames that it sends to the
// server".
func AppendMaskedFrame(dst []byte, fin bool, op OpCode, payload []byte, key [4]byte) []byte {
	dst = appendHeader(dst, fin, op, len(payload), bitMask)
	dst = append(dst, key[:]...)
	n := len(dst)
	dst = append(dst, payload...)
	Mask(dst[n:], key, 0)
	return dst
}

// AppendClose appends a complete unmasked close frame to dst. Code 0 gives
// an empty payload (RFC 6455 §5.5.1: "The Close frame MAY contain a body");
// otherwise the payload is the 2-byte code followed by reason, which the
// caller keeps valid UTF-8 and which is cut on a code point boundary to fit
// the 125-byte control frame limit (123 bytes after the code).
func AppendClose(dst []byte, code StatusCode, reason string) []byte {
	if code == 0 {
		return appendHeader(dst, true, OpClose, 0, 0)
	}
	const maxReason = maxControlPayload - 2
	if len(reason) > maxReason {
		n := maxReason
		// Back off to the first byte of a code point (not 10xxxxxx).
		for n > 0 && reason[n]&0xC0 == 0x80 {
			n--
		}
		reason = reason[:n]
	}
	dst = appendHeader(dst, true, OpClose, 2+len(reason), 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}
