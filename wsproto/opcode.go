package wsproto

// OpCode is the 4-bit frame opcode of RFC 6455 §5.2.
type OpCode byte

// Opcodes defined by RFC 6455 §5.2. All other values (0x3-0x7, 0xB-0xF) are
// reserved and make the Reader fail the connection with 1002.
const (
	OpContinuation OpCode = 0x0
	OpText         OpCode = 0x1
	OpBinary       OpCode = 0x2
	OpClose        OpCode = 0x8
	OpPing         OpCode = 0x9
	OpPong         OpCode = 0xA
)

// IsControl reports whether o is a control opcode.
//
// RFC 6455 §5.5: "Control frames are identified by opcodes where the most
// significant bit of the opcode is 1."
func (o OpCode) IsControl() bool {
	return o&0x8 != 0
}

// isKnown reports whether o is one of the opcodes RFC 6455 defines.
func (o OpCode) isKnown() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

// String returns the RFC name of o, for logs and test failures.
func (o OpCode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}
