package wsproto

import "encoding/binary"

// headerLen returns the full header size announced by the first two header
// bytes.
func headerLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	return n
}

// parseHeader checks the complete frame header h (len(h) == headerLen) and
// loads it into r as the current frame. Every check fails the connection:
// RFC 6455 §5.2 ends "If [...] the receiving endpoint MUST _Fail the
// WebSocket Connection_", with the close codes of §7.4.1. The outcome
// depends only on the header and the message state, never on how the
// header was split across reads.
func (r *Reader) parseHeader(h []byte, cfg *Config) error {
	b0, b1 := h[0], h[1]

	// RFC 6455 §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an
	// extension is negotiated that defines meanings for non-zero values.
	// If a nonzero value is received and none of the negotiated
	// extensions defines the meaning of such a nonzero value, the
	// receiving endpoint MUST _Fail the WebSocket Connection_." We
	// negotiate no extensions.
	if b0&bitsRSV != 0 {
		return ErrReservedBits
	}

	// RFC 6455 §5.2: "If an unknown opcode is received, the receiving
	// endpoint MUST _Fail the WebSocket Connection_."
	op := OpCode(b0 & 0x0F)
	if !op.isKnown() {
		return ErrBadOpcode
	}

	masked := b1&bitMask != 0
	if cfg.Client {
		// RFC 6455 §5.1: "A client MUST close a connection if it
		// detects a masked frame."
		if masked {
			return ErrMasked
		}
	} else if !masked {
		// RFC 6455 §5.1: "The server MUST close the connection upon
		// receiving a frame that is not masked. In this case, a server
		// MAY send a Close frame with a status code of 1002 (protocol
		// error) as defined in Section 7.4.1."
		return ErrUnmasked
	}

	fin := b0&bitFIN != 0
	if op.IsControl() {
		// RFC 6455 §5.5: "All control frames MUST have a payload length
		// of 125 bytes or less and MUST NOT be fragmented."
		if !fin {
			return ErrFragmentedControl
		}
		if b1&0x7F > maxControlPayload {
			return ErrControlTooLong
		}
	} else if op == OpContinuation {
		// RFC 6455 §5.4: a fragmented message is "a single frame with
		// the FIN bit clear and an opcode other than 0, followed by
		// zero or more frames with the FIN bit clear and the opcode
		// set to 0, and terminated by a single frame with the FIN bit
		// set and an opcode of 0": a continuation needs an open message.
		if r.msgOp == 0 {
			return ErrBadContinuation
		}
	} else if r.msgOp != 0 {
		// RFC 6455 §5.4: "The fragments of one message MUST NOT be
		// interleaved between the fragments of another message unless
		// an extension has been negotiated that can interpret the
		// interleaving."
		return ErrNewMessageInFragment
	}

	var length uint64
	rest := h[2:]
	switch l7 := b1 & 0x7F; l7 {
	case 126:
		length = uint64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
	case 127:
		length = binary.BigEndian.Uint64(rest)
		rest = rest[8:]
		// RFC 6455 §5.2: "If 127, the following 8 bytes interpreted as
		// a 64-bit unsigned integer (the most significant bit MUST be
		// 0) are the payload length." A length with the high bit set
		// (2^63 and up) breaks that rule and is also over any message
		// limit; c1m answers it like every oversized frame, 1009, from
		// the header alone and without allocating (the answer
		// docs/operations.md promises for a 2^63-byte frame).
	default:
		length = uint64(l7)
	}
	// Non-minimal length encodings are accepted: §5.2's "the minimal
	// number of bytes MUST be used" binds the sender, and rejecting them
	// buys nothing.

	if !op.IsControl() {
		// The message is over the limit as soon as the header says so;
		// nothing is allocated for it. §10.4: "implementations SHOULD
		// impose a limit on frame sizes and the total message size after
		// reassembly from multiple frames", and §7.4.1: "1009 indicates
		// that an endpoint is terminating the connection because it has
		// received a message that is too big for it to process."
		held := 0
		if op == OpContinuation {
			held = r.held()
		}
		if length > uint64(cfg.maxMessage()-held) {
			return ErrMessageTooBig
		}
		if op != OpContinuation {
			r.msgOp = op
			r.utf8.Reset()
		}
	}

	r.fin = fin
	r.op = op
	r.masked = masked
	if masked {
		copy(r.key[:], rest)
	}
	r.maskPos = 0
	r.remain = length
	r.inFrame = true
	return nil
}
