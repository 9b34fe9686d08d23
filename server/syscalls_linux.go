//go:build linux

package server

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The write path talks to sockets with send(2) and sendmsg(2), not
// write(2) and writev(2): on a socket, write goes through the VFS
// (vfs_write, fdget_pos's file position lock) before it reaches the same
// sock_sendmsg, which a profile of a broadcast showed at ~8 % of the
// server's samples (issue 13). MSG_DONTWAIT keeps a call non-blocking
// whatever the fd's flags, and MSG_NOSIGNAL turns a peer gone into EPIPE
// without a SIGPIPE. Each helper takes the caller's buffers, so nothing is
// allocated (unix.Writev allocates its iovec slice on every call).

const sendFlags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL

// writev sends iov with sendmsg(2), retrying EINTR.
func writev(fd int, iov []unix.Iovec) (int, error) {
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(len(iov))
	for {
		n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), sendFlags)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// write2 sends a then b in one sendmsg(2) (a may be empty).
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

// writeFull is one send(2), retrying EINTR; short writes are the caller's.
func writeFull(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), sendFlags, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
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
