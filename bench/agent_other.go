//go:build !linux

package bench

import "syscall"

// workerProcAttr is nothing off Linux (the workers run on Linux only).
func workerProcAttr() *syscall.SysProcAttr { return nil }
