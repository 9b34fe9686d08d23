//go:build linux

package server

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// writev writes iov with writev(2), retrying EINTR. unix.Writev allocates
// its iovec slice on every call; this one takes the caller's, so the write
// path allocates nothing.
func writev(fd int, iov []unix.Iovec) (int, error) {
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// write2 writes a then b in one writev(2) (a may be empty).
func write2(fd int, a, b []byte) (int, error) {
	if len(a) == 0 {
		return writeFull(fd, b)
	}
	if len(b) == 0 {
		return writeFull(fd, a)
	}
	var iov [2]unix.Iovec
	iov[0].Base = &a[0]
	iov[0].SetLen(len(a))
	iov[1].Base = &b[0]
	iov[1].SetLen(len(b))
	return writev(fd, iov[:])
}

// writeFull is one write(2), retrying EINTR; short writes are the caller's.
func writeFull(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// readFD is one read(2), retrying EINTR.
func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
