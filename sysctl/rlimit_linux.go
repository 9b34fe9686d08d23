//go:build linux

package sysctl

import (
	"os"

	"golang.org/x/sys/unix"
)

func getNoFile() (Rlimit, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return Rlimit{}, os.NewSyscallError("getrlimit", err)
	}
	return Rlimit{Cur: l.Cur, Max: l.Max}, nil
}

func setNoFile(l Rlimit) error {
	// setrlimit(2): raising the hard limit needs CAP_SYS_RESOURCE, and no
	// value above fs.nr_open is accepted (EPERM either way).
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: l.Cur, Max: l.Max}); err != nil {
		return os.NewSyscallError("setrlimit", err)
	}
	return nil
}
