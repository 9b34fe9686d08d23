//go:build race

package wsproto

// raceEnabled: the race detector changes allocation counts (sync.Pool drops
// a share of Puts on purpose, and instrumentation moves values to the heap).
const raceEnabled = true
