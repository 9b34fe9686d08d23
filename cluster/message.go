package cluster

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

// Message is one message of a target's stream as a node receives it,
// live or from History.
type Message struct {
	// Target is the room, user or "everyone" the message was sent to.
	Target broadcast.Target
	// From is the sender's name as given to Publish.
	From string
	// Seq is the message's position in the deployment's one order (the
	// JetStream stream sequence): the same on every node, increasing
	// along a target's messages but not contiguous (other targets'
	// messages take the numbers in between).
	Seq uint64
	// Prev is the Seq of the target's previous message, so that a reader
	// that last saw Prev has missed nothing. 0 means unknown: the
	// target's first message, or its previous one has already left the
	// stream (HistoryTTL). See Cursor.
	Prev uint64
	// Time is when the stream stored the message, in Unix milliseconds.
	Time int64
	// Data is the message as published. It belongs to the receiver: the
	// cluster neither keeps nor reuses it.
	Data []byte
}

// Headers JetStream puts on a republished message and on a direct get
// answer (nats-server stream.go). Nats-Last-Sequence on a republished
// message is the sequence of the last message stored before it on the
// same subject (the server looks it up with LoadLastMsg(subject) before
// storing); on a batch of a direct get it is the previous message of
// the batch.
const (
	hdrSequence   = "Nats-Sequence"
	hdrLastSeq    = "Nats-Last-Sequence"
	hdrTimeStamp  = "Nats-Time-Stamp"
	hdrNumPending = "Nats-Num-Pending"
	hdrStatus     = "Status"
)

// encodePayload is the stored form of a message: the sender's name,
// length-prefixed (uvarint), then the data. The data is copied, so the
// caller may reuse its buffer once Publish returns.
func encodePayload(from string, data []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen16+len(from)+len(data))
	b = binary.AppendUvarint(b, uint64(len(from)))
	b = append(b, from...)
	return append(b, data...)
}

// decodePayload splits a stored payload; ok is false for a payload that
// is not c1m's (someone else published on c1m's subjects).
func decodePayload(p []byte) (from string, data []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > MaxFromLen || uint64(len(p)-k) < n {
		return "", nil, false
	}
	return string(p[k : k+int(n)]), p[k+int(n):], true
}

// headerUint reads a decimal header; 0 when absent or malformed.
func headerUint(h nats.Header, key string) uint64 {
	v := h.Get(key)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// headerMillis reads Nats-Time-Stamp (RFC 3339, nanoseconds) as Unix
// milliseconds; 0 when absent or malformed.
func headerMillis(h nats.Header) int64 {
	v := h.Get(hdrTimeStamp)
	if v == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// messageFrom decodes a stored or republished NATS message of target t.
func messageFrom(t broadcast.Target, m *nats.Msg) (Message, bool) {
	from, data, ok := decodePayload(m.Data)
	if !ok {
		return Message{}, false
	}
	return Message{
		Target: t,
		From:   from,
		Seq:    headerUint(m.Header, hdrSequence),
		Prev:   headerUint(m.Header, hdrLastSeq),
		Time:   headerMillis(m.Header),
		Data:   data,
	}, true
}
