package broadcast

import (
	"strconv"
	"unicode/utf8"

	"c1m/wsproto"
)

// Target kinds: who a message goes to.
type Kind uint8

const (
	KindRoom Kind = iota // every member of a room
	KindUser             // every device of a user
	KindAll              // every registered connection
)

// Target names a stream: a room, a user, or everyone.
type Target struct {
	Kind Kind
	Name string // room or user name; empty for KindAll
}

// ToRoom, ToUser and ToAll build Targets.
func ToRoom(room string) Target { return Target{Kind: KindRoom, Name: room} }

// ToUser targets every device of a user.
func ToUser(user string) Target { return Target{Kind: KindUser, Name: user} }

// ToAll targets every registered connection.
func ToAll() Target { return Target{Kind: KindAll} }

// maxServerHeader is the largest unmasked frame header (RFC 6455 §5.2).
const maxServerHeader = 10

// EncodeMessage builds the one frame every target of a delivery gets:
//
//	{"type":"message","room":"lobby","from":"alice","seq":7,"ts":1700000000000,"data":{...}}
//
// ("to" instead of "room" for a direct message, "room":"*" with
// "all":true for everyone). data must be valid JSON; it is copied as is.
// The JSON is written after a reserved gap, then the frame header is put
// right before it, so header and payload share one allocation. It is
// exported for the benchmark's baseline server, which must frame its
// messages exactly as c1m does.
func EncodeMessage(t Target, from string, seq uint64, tsMillis int64, data []byte) []byte {
	return encodeMessage(t, from, seq, 0, tsMillis, data, false)
}

// encodeMessage is EncodeMessage with the fields of the other numberings:
// prev (when not 0), the previous message of the same target in a
// numbering that is not contiguous (the cluster's), and local, a message
// delivered on this node only while the cluster is unreachable, which
// carries no seq (it is in no history).
func encodeMessage(t Target, from string, seq, prev uint64, tsMillis int64, data []byte, local bool) []byte {
	n := maxServerHeader + 80 + len(t.Name) + len(from) + len(data)
	b := make([]byte, maxServerHeader, n+16)
	b = append(b, `{"type":"message",`...)
	b = appendTarget(b, t)
	b = append(b, `,"from":`...)
	b = AppendJSONString(b, from)
	if local {
		b = append(b, `,"local":true`...)
	} else {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
	}
	if prev != 0 {
		b = append(b, `,"prev":`...)
		b = strconv.AppendUint(b, prev, 10)
	}
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, tsMillis, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return frameInPlace(b)
}

// appendTarget appends the fields naming a stream: "room" for a room,
// "to" for a user, "room":"*" with "all":true for everyone.
func appendTarget(b []byte, t Target) []byte {
	switch t.Kind {
	case KindRoom:
		b = append(b, `"room":`...)
		b = AppendJSONString(b, t.Name)
	case KindUser:
		b = append(b, `"to":`...)
		b = AppendJSONString(b, t.Name)
	case KindAll:
		b = append(b, `"room":"*","all":true`...)
	}
	return b
}

// frameInPlace writes a text frame header into the maxServerHeader bytes
// reserved at the front of b and returns the frame.
func frameInPlace(b []byte) []byte {
	payload := len(b) - maxServerHeader
	hs := wsproto.HeaderSize(payload, false)
	start := maxServerHeader - hs
	wsproto.AppendHeader(b[start:start], true, wsproto.OpText, payload)
	return b[start:]
}

// encodeGap builds the gap notice for a connection that missed missed
// messages, numbered first..last, of a stream (under PolicyDrop, or when
// the history no longer reaches back to what a joining client saw last):
//
//	{"type":"gap","room":"lobby","from_seq":5,"to_seq":9,"missed":5}
//
// In a contiguous numbering missed is last-first+1; in the cluster's it
// is counted (other targets' messages take the numbers in between), and
// 0 when unknown (a history that was trimmed).
func encodeGap(t Target, first, last, missed uint64) []byte {
	b := make([]byte, maxServerHeader, maxServerHeader+96+len(t.Name))
	b = append(b, `{"type":"gap",`...)
	b = appendTarget(b, t)
	b = append(b, `,"from_seq":`...)
	b = strconv.AppendUint(b, first, 10)
	b = append(b, `,"to_seq":`...)
	b = strconv.AppendUint(b, last, 10)
	b = append(b, `,"missed":`...)
	b = strconv.AppendUint(b, missed, 10)
	b = append(b, '}')
	return frameInPlace(b)
}

// encodePresence builds a presence event for a room:
//
//	{"type":"presence","room":"lobby","count":12,"joined":["bob"],"left":["carol"]}
func encodePresence(room string, count int, joined, left []string) []byte {
	b := make([]byte, maxServerHeader, 128)
	b = append(b, `{"type":"presence","room":`...)
	b = AppendJSONString(b, room)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"joined":[`...)
	for i, u := range joined {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, u)
	}
	b = append(b, `],"left":[`...)
	for i, u := range left {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, u)
	}
	b = append(b, "]}"...)
	return frameInPlace(b)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped; invalid UTF-8 replaced by
// U+FFFD so that the frame stays valid text (RFC 6455 §5.6).
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// EncodeNumbered builds the frame of a message numbered elsewhere (a
// history entry of the cluster's stream): seq, and prev when not 0, as
// Deliver frames them. The caller owns the frame.
func EncodeNumbered(t Target, from string, seq, prev uint64, tsMillis int64, data []byte) []byte {
	return encodeMessage(t, from, seq, prev, tsMillis, data, false)
}
