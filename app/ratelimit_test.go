package app

import "testing"

func TestBucket(t *testing.T) {
	const burst, perMs = 3, 0.001 // 3 at once, 1 a second
	f := func(name string, b bucket, now uint32, want bool, wantTokens float32) {
		t.Helper()
		got := b.take(now, burst, perMs)
		if got != want || b.tokens != wantTokens || b.last != now {
			t.Fatalf("%s: take = %v with %v tokens at %d, want %v with %v", name, got, b.tokens, b.last, want, wantTokens)
		}
	}
	f("full", bucket{tokens: 3}, 0, true, 2)
	f("last token", bucket{tokens: 1}, 0, true, 0)
	f("empty", bucket{tokens: 0.5}, 0, false, 0.5)
	f("refilled after a second", bucket{tokens: 0}, 1000, true, 0)
	f("refill caps at the burst", bucket{tokens: 0}, 60_000, true, 2)
	f("half a second is not enough", bucket{tokens: 0.25, last: 100}, 600, false, 0.75)
	// The clock is ms since start in 32 bits: a delta across the wrap is
	// still the time that passed.
	f("across the 49-day wrap", bucket{tokens: 0, last: ^uint32(0) - 499}, 500, true, 0)
}

// TestBucketSequence: a client sending as fast as it can gets the burst,
// then one message per refill period, never more.
func TestBucketSequence(t *testing.T) {
	b := bucket{tokens: 10}
	ok := 0
	for now := uint32(0); now <= 5500; now += 10 { // 100 messages a second for 5.5 s
		if b.take(now, 10, 0.001) {
			ok++
		}
	}
	if ok != 15 { // 10 at once, then 1 a second (float32 refill may land a tick late)
		t.Fatalf("%d messages passed in 5.5 s at burst 10, refill 1/s; want 15", ok)
	}
}
