package app

// bucket is a token bucket for one connection's messages, refilled lazily
// from the time of the last message: no timer per connection. 12 bytes.
type bucket struct {
	tokens  float32
	last    uint32 // ms since the App started (wraps after 49 days; deltas are taken modulo 2^32)
	strikes uint16 // refusals in a row
}

// take spends one token at now (ms); it reports whether one was there.
func (b *bucket) take(now uint32, burst, perMs float32) bool {
	b.tokens += float32(now-b.last) * perMs
	if b.tokens > burst {
		b.tokens = burst
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
