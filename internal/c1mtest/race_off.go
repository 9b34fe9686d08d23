//go:build !race

package c1mtest

// RaceEnabled is false: see race_on.go.
const RaceEnabled = false
