package cluster

// Cursor is one reader's position in one target's messages: the last
// Seq it was given. It tells a message to deliver from a duplicate, and
// notices a hole, whatever mix of History answers and live messages the
// reader is fed. The zero Cursor starts before the first message and
// reports no hole for it; a reader resuming from a Seq starts with
// Cursor{Last: since}. Not safe for concurrent use (one per reader and
// target, owned by whoever delivers to the reader).
type Cursor struct {
	Last uint64
}

// Next classifies m for the reader. deliver is false for a message the
// reader already has (Seq not after Last). hole is true when the
// reader missed messages between Last and m (m.Prev is after Last):
// fetch them with History(target, Last, ...) before delivering m, or
// tell the reader. When deliver is true and hole is false the reader's
// Last becomes m.Seq; with a hole the Cursor does not move, so the
// caller decides.
func (c *Cursor) Next(m Message) (deliver, hole bool) {
	if m.Seq <= c.Last {
		return false, false
	}
	if c.Last != 0 && m.Prev > c.Last {
		return true, true
	}
	c.Last = m.Seq
	return true, false
}

// Skip moves the Cursor to seq (after the caller delivered a message
// despite a hole, or told the reader about the gap).
func (c *Cursor) Skip(seq uint64) {
	if seq > c.Last {
		c.Last = seq
	}
}
