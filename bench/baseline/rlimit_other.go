//go:build !linux

package baseline

import "errors"

// RaiseFileLimit is Linux-only, like the rest of the benchmark.
func RaiseFileLimit() (uint64, error) {
	return 0, errors.New("baseline: raising the open-files limit needs Linux")
}
