package c1mtest

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it holds or d passes, then fails
// tb with what(): a description of the state it waited for and, ideally,
// the last one seen. It is the one way tests here wait: for a state, with
// d only as a generous last guard. cond and what run on the calling
// goroutine.
func Eventually(tb testing.TB, d time.Duration, cond func() bool, what func() string) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("still not true after %v: %s", d, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Say returns what for Eventually when a fixed description says enough.
func Say(s string) func() string { return func() string { return s } }
