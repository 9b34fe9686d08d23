package c1mtest

import "testing"

// SkipAllocsUnderRace skips an allocation test under the race detector,
// whose instrumentation allocates; `make test` runs it without -race.
func SkipAllocsUnderRace(tb testing.TB) {
	tb.Helper()
	if RaceEnabled {
		tb.Skip("allocation counts are meaningless under -race; make test runs this without it")
	}
}
