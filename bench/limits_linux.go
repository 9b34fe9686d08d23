//go:build linux

package bench

import "c1m/poller"

// fileLimit is the open-files limit after raising it.
func fileLimit() (uint64, error) { return RaiseFileLimit() }

// RaiseFileLimit raises RLIMIT_NOFILE's soft limit to the hard limit
// (poller.RaiseFileLimit) and returns it; child processes inherit it.
func RaiseFileLimit() (uint64, error) { return poller.RaiseFileLimit() }
