//go:build !linux

package sysctl

import "errors"

var errNotLinux = errors.New("sysctl: open-files limits are only read on Linux")

func getNoFile() (Rlimit, error) { return Rlimit{}, errNotLinux }

func setNoFile(Rlimit) error { return errNotLinux }
