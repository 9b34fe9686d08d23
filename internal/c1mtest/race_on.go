//go:build race

package c1mtest

// RaceEnabled: the race detector changes what allocates (and drops
// sync.Pool items on purpose), so allocation counts are not meaningful
// under -race; `make test` runs them without it.
const RaceEnabled = true
