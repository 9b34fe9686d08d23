//go:build linux

package bench

import "syscall"

// workerProcAttr makes a worker process get SIGTERM when its agent dies
// (prctl(2), PR_SET_PDEATHSIG), so that a killed agent leaves no
// connections open behind it.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
