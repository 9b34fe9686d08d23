//go:build linux

package bench

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileLimit is the open-files limit after raising it.
func fileLimit() (uint64, error) { return RaiseFileLimit() }

// RaiseFileLimit raises RLIMIT_NOFILE's soft limit to the hard limit and
// returns it; child processes inherit it.
func RaiseFileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("cannot read the open-files limit: %w", os.NewSyscallError("getrlimit", err))
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("cannot raise the open-files limit: %w", os.NewSyscallError("setrlimit", err))
		}
	}
	return rl.Cur, nil
}
