//go:build linux

package bench

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// dialFrom starts a non-blocking connect from (src, srcPort) to dst. The
// socket is bound first, with SO_REUSEADDR so that a port still in
// TIME_WAIT from an earlier run can be reused toward a new destination.
// rcvbuf > 0 shrinks the receive buffer (the slow scenario's clients).
// It returns the fd with the connect in progress (EINPROGRESS is not an
// error); completion is signalled by EPOLLOUT and read with SO_ERROR.
func dialFrom(src netip.Addr, srcPort int, dst *unix.SockaddrInet4, rcvbuf int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("cannot create socket: %w", os.NewSyscallError("socket", err))
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if rcvbuf > 0 {
		// Before connect, so that the window advertised in the SYN is
		// already small (socket(7), SO_RCVBUF).
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4(), Port: srcPort}); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("cannot bind %s:%d: %w", src, srcPort, os.NewSyscallError("bind", err))
	}
	err = unix.Connect(fd, dst)
	if err != nil && err != unix.EINPROGRESS {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("cannot connect: %w", os.NewSyscallError("connect", err))
	}
	return fd, nil
}

// connectResult reads the outcome of a non-blocking connect.
func connectResult(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v != 0 {
		return os.NewSyscallError("connect", unix.Errno(v))
	}
	return nil
}
