//go:build linux

package poller

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit, as a
// process holding one fd per connection must (getrlimit(2)), and returns
// the resulting soft limit. Children started afterwards inherit it.
func RaiseFileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("cannot read the open-files limit: %w", os.NewSyscallError("getrlimit", err))
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("cannot raise the open-files limit to %d: %w", rl.Max, os.NewSyscallError("setrlimit", err))
		}
	}
	return rl.Cur, nil
}
