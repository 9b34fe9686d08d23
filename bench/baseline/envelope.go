package baseline

import (
	"strconv"
	"time"
)

// maxHeader is the largest unmasked server frame header (RFC 6455 §5.2).
const maxHeader = 10

// encodeMessage frames a message to everyone, once, in the shape c1m's
// broadcast package uses (broadcast/envelope.go, encodeMessage), so that
// benchmark clients parse both servers' frames the same way:
//
//	{"type":"message","room":"*","all":true,"from":"api","seq":7,"ts":1700000000000,"data":{...}}
//
// data must be valid JSON; it is copied as is. The JSON goes after a
// reserved gap and the header is put right before it, so header and
// payload share one allocation.
func encodeMessage(seq uint64, tsMillis int64, data []byte) []byte {
	b := make([]byte, maxHeader, maxHeader+96+len(data))
	b = append(b, `{"type":"message","room":"*","all":true,"from":"api","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, tsMillis, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return frameInPlace(b)
}

// frameInPlace writes a final text frame header into the maxHeader bytes
// reserved at the front of b and returns the frame. RFC 6455 §5.2: the
// payload length is 7 bits if ≤ 125, else 126 and a 16-bit length if
// ≤ 65535, else 127 and a 64-bit length, in network byte order; a server
// frame is not masked.
func frameInPlace(b []byte) []byte {
	n := len(b) - maxHeader
	var start int
	switch {
	case n <= 125:
		start = maxHeader - 2
		b[start+1] = byte(n)
	case n <= 0xffff:
		start = maxHeader - 4
		b[start+1] = 126
		b[start+2], b[start+3] = byte(n>>8), byte(n)
	default:
		start = 0
		b[1] = 127
		for i := 0; i < 8; i++ {
			b[2+i] = byte(uint64(n) >> (56 - 8*i))
		}
	}
	b[start] = 0x80 | 0x1 // FIN, opcode text
	return b[start:]
}

func nowMillis() int64 { return time.Now().UnixMilli() }
