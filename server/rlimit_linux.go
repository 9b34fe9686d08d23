//go:build linux

package server

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileLimit returns the current soft RLIMIT_NOFILE: the fd table covers
// every fd below it. Raising the limit is the caller's business
// (sysctl.RaiseFileLimit, before New).
func fileLimit() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("cannot read the open-files limit: %w", os.NewSyscallError("getrlimit", err))
	}
	if rl.Cur > 1<<26 {
		// A table slot per possible fd; beyond 64M fds the table itself
		// would be a problem, and no kernel default allows more.
		return 1 << 26, nil
	}
	return int(rl.Cur), nil
}

// FDReserve is how many descriptors c1m keeps for itself (listeners, epoll
// and eventfds, the metrics server, log files) when it derives max-conns
// from the open-files limit.
const FDReserve = 64
